using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
#if !HGS_HOST_EDITION
using OpenHgs.Server.Configuration;
using OpenHgs.Service;
using OpenHgs.Storage;
#endif

namespace OpenHgs.Cli;

/// <summary>Exit codes: scripts can tell bad input from a refusal from an outage.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Refused = 1;
    public const int BadInput = 2;
    public const int Unavailable = 3;
    public const int Internal = 70;
}

/// <summary>Raised by commands for bad arguments or files; printed as one line.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.BadInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// A failure after the command already wrote its result as JSON on stdout (a failed verification's report): reported
/// on stderr and by exit code like <see cref="Exception.InnerException"/>, without a second JSON document.
/// </summary>
public sealed class ReportedFailureException(Exception failure) : Exception(failure.Message, failure);

/// <summary>
/// Runs a command body and turns every failure into one line on stderr and a meaningful exit code; with
/// <c>--json</c>, also into one JSON object on stdout (<c>{"error":{"code","message","exitCode"}}</c>), so a script
/// reading stdout sees the failure too.
/// </summary>
public static class CliErrors
{
    public static async Task<int> RunAsync(ParseResult parse, Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var failure = Describe(ex is ReportedFailureException reported ? reported.InnerException! : ex);
            await Console.Error.WriteLineAsync("error: " + failure.Line).ConfigureAwait(false);
            if (WantsJson(parse) && ex is not ReportedFailureException)
            {
                WriteJson(failure);
            }

            return failure.ExitCode;
        }
    }

    /// <summary>Whether the command line asked for JSON (the command has <c>--json</c> and it is set).</summary>
    public static bool WantsJson(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return parse.CommandResult.Command.Options.OfType<Option<bool>>().FirstOrDefault(o => o.Name == "--json") is { } json
            && parse.GetValue(json);
    }

    /// <summary><paramref name="failure"/>, marked as already reported on stdout when <paramref name="resultWritten"/>.</summary>
    public static Exception AfterResult(Exception failure, bool resultWritten) => resultWritten ? new ReportedFailureException(failure) : failure;

    /// <summary>The <c>--json</c> form of a failure, on stdout.</summary>
    public static void WriteJson(CliFailure failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var node = new JsonObject
        {
            ["error"] = new JsonObject { ["code"] = failure.Code, ["message"] = failure.Message, ["exitCode"] = failure.ExitCode },
        };
        CliOutput.Json(node);
    }

    internal static CliFailure Describe(Exception ex) => ex switch
    {
        CliException c => new(c.ExitCode, Category(c.ExitCode), c.Message, Coded: false),
        HgsClientException { HttpStatus: 503 or 502 or 504 } h => new(ExitCodes.Unavailable, h.Code, h.Message),
        HgsClientException { Code: "ServiceUnreachable" or "ServerCertificateRejected" } h => new(ExitCodes.Unavailable, h.Code, h.Message),
        // The host's own configuration or key files are wrong: bad input, not a refusal by the service.
        HgsClientException { HttpStatus: null, Code: "NotConfigured" or "ConfigurationInvalid" or "HostKeyMissing" or "HostKeyInvalid" or "HostKeyExposed" or "HostKeyExists"
            or "CaCertificateInvalid" or "ClientCertificateInvalid" or FailoverHttpClient.AdminCredentialNeedsHttps } h
            => new(ExitCodes.BadInput, h.Code, h.Message),
        HgsClientException { HttpStatus: 400 or 413 } h => new(ExitCodes.BadInput, h.Code, h.Message),
        HgsClientException h => new(ExitCodes.Refused, h.Code, h.Message),
#if !HGS_HOST_EDITION
        OpenHgs.Storage.Backup.BackupException { Code: OpenHgs.Storage.Backup.BackupCodes.Malformed } b => new(ExitCodes.BadInput, b.Code, b.Message),
        OpenHgs.Storage.Backup.BackupException b => new(ExitCodes.Refused, b.Code, b.Message),
        ServiceException { Kind: ProblemKind.Unavailable } s => new(ExitCodes.Unavailable, s.Code, s.Message),
        ServiceException s => new(ExitCodes.Refused, s.Code, s.Message),
#endif
        // A file that is not a key protector at all is bad input; one that parses but does not verify is a refusal.
        KeyProtectorException { Error: KeyProtectorError.Malformed or KeyProtectorError.Oversized or KeyProtectorError.UnsupportedVersion } k
            => new(ExitCodes.BadInput, "KeyProtector" + k.Error, k.Message),
        KeyProtectorException k => new(ExitCodes.Refused, "KeyProtector" + k.Error, k.Message),
        GuardianFormatException g => new(ExitCodes.BadInput, "Guardian" + g.Error, g.Message),
        OpenHgs.Client.ShieldedVms.ShieldedVmBundleException { Code: "BundleMalformed" or "VmNameInvalid" or "BundleExists" } b => new(ExitCodes.BadInput, b.Code, b.Message),
        OpenHgs.Client.ShieldedVms.ShieldedVmBundleException { Code: "BundleBusy" } b => new(ExitCodes.Unavailable, b.Code, b.Message),
        OpenHgs.Client.ShieldedVms.ShieldedVmBundleException b => new(ExitCodes.Refused, b.Code, b.Message),
        OpenHgs.Client.ShieldedVms.VtpmException { Code: "VtpmUnavailable" } v => new(ExitCodes.Unavailable, v.Code, v.Message),
        OpenHgs.Client.ShieldedVms.VtpmException v => new(ExitCodes.Refused, v.Code, v.Message),
#if !HGS_HOST_EDITION
        HgsConfigurationException h => new(ExitCodes.BadInput, "ConfigurationInvalid", h.Message, Coded: false),
#endif
        KeyStoreConfigurationException k => new(ExitCodes.BadInput, "KeyStoreConfigurationInvalid", "key store configuration: " + k.Message, Coded: false),
        KeyStoreUnavailableException k => new(ExitCodes.Unavailable, "KeyStoreUnavailable", "key store unavailable: " + k.Message, Coded: false),
        KeyStoreOperationException k => new(ExitCodes.Refused, "KeyStoreRefused", "key store refused: " + k.Message, Coded: false),
        KeyNotFoundInStoreException k => new(ExitCodes.Refused, "KeyNotFound", k.Message, Coded: false),
#if !HGS_HOST_EDITION
        DatabaseUnavailableException d => new(ExitCodes.Unavailable, "DatabaseUnavailable", "database unavailable: " + d.Message, Coded: false),
#endif
        OpenHgs.Tpm.Transport.TpmTransportException t => new(ExitCodes.Unavailable, "TpmUnavailable", "TPM unavailable: " + t.Message, Coded: false),
        OpenHgs.Tpm.Commands.TpmException t => new(ExitCodes.Refused, "TpmRefused", "TPM refused the command: " + t.Message, Coded: false),
        FileNotFoundException f => new(ExitCodes.BadInput, "FileNotFound", $"file not found: {f.FileName ?? f.Message}", Coded: false),
        DirectoryNotFoundException d => new(ExitCodes.BadInput, "FileNotFound", d.Message, Coded: false),
        UnauthorizedAccessException u => new(ExitCodes.BadInput, "FileAccessDenied", u.Message, Coded: false),
        IOException io => new(ExitCodes.BadInput, "FileError", io.Message, Coded: false),
        CryptographicException c => new(ExitCodes.BadInput, "CryptographicInputRejected", "cryptographic input rejected: " + c.Message, Coded: false),
        OperationCanceledException => new(ExitCodes.Refused, "Cancelled", "cancelled", Coded: false),
        _ => new(ExitCodes.Internal, "InternalError", $"internal error ({ex.GetType().Name}): {ex.Message}", Coded: false),
    };

    private static string Category(int exitCode) => exitCode switch
    {
        ExitCodes.BadInput => "BadInput",
        ExitCodes.Refused => "Refused",
        ExitCodes.Unavailable => "Unavailable",
        _ => "InternalError",
    };
}

/// <summary>
/// A command's failure: exit code, stable code and message. <see cref="Coded"/> failures print as
/// <c>CODE: message</c> (a service's or format's code the operator can search for), the rest as the message alone.
/// </summary>
public sealed record CliFailure(int ExitCode, string Code, string Message, bool Coded = true)
{
    /// <summary>The line printed after <c>error: </c>: one line, inert for the terminal (a service's detail is not ours).</summary>
    public string Line => TerminalText.Inert(Coded ? $"{Code}: {Message}" : Message);
}
