using System.Security.Cryptography;
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

/// <summary>Runs a command body and turns every failure into one line on stderr and a meaningful exit code.</summary>
public static class CliErrors
{
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var (code, message) = Describe(ex);
            await Console.Error.WriteLineAsync("error: " + message).ConfigureAwait(false);
            return code;
        }
    }

    private static (int Code, string Message) Describe(Exception ex) => ex switch
    {
        CliException c => (c.ExitCode, c.Message),
        HgsClientException { HttpStatus: 503 or 502 or 504 } h => (ExitCodes.Unavailable, $"{h.Code}: {h.Message}"),
        HgsClientException { Code: "ServiceUnreachable" or "ServerCertificateRejected" } h => (ExitCodes.Unavailable, $"{h.Code}: {h.Message}"),
        // The host's own configuration or key files are wrong: bad input, not a refusal by the service.
        HgsClientException { HttpStatus: null, Code: "NotConfigured" or "ConfigurationInvalid" or "HostKeyMissing" or "HostKeyInvalid" or "HostKeyExists"
            or "CaCertificateInvalid" or "ClientCertificateInvalid" } h
            => (ExitCodes.BadInput, $"{h.Code}: {h.Message}"),
        HgsClientException { HttpStatus: 400 or 413 } h => (ExitCodes.BadInput, $"{h.Code}: {h.Message}"),
        HgsClientException h => (ExitCodes.Refused, $"{h.Code}: {h.Message}"),
#if !HGS_HOST_EDITION
        OpenHgs.Storage.Backup.BackupException { Code: OpenHgs.Storage.Backup.BackupCodes.Malformed } b => (ExitCodes.BadInput, $"{b.Code}: {b.Message}"),
        OpenHgs.Storage.Backup.BackupException b => (ExitCodes.Refused, $"{b.Code}: {b.Message}"),
        ServiceException { Kind: ProblemKind.Unavailable } s => (ExitCodes.Unavailable, $"{s.Code}: {s.Message}"),
        ServiceException s => (ExitCodes.Refused, $"{s.Code}: {s.Message}"),
#endif
        KeyProtectorException k => (ExitCodes.Refused, $"KeyProtector{k.Error}: {k.Message}"),
        GuardianFormatException g => (ExitCodes.BadInput, $"Guardian{g.Error}: {g.Message}"),
#if !HGS_HOST_EDITION
        HgsConfigurationException h => (ExitCodes.BadInput, h.Message),
#endif
        KeyStoreConfigurationException k => (ExitCodes.BadInput, "key store configuration: " + k.Message),
        KeyStoreUnavailableException k => (ExitCodes.Unavailable, "key store unavailable: " + k.Message),
        KeyStoreOperationException k => (ExitCodes.Refused, "key store refused: " + k.Message),
        KeyNotFoundInStoreException k => (ExitCodes.Refused, k.Message),
#if !HGS_HOST_EDITION
        DatabaseUnavailableException d => (ExitCodes.Unavailable, "database unavailable: " + d.Message),
#endif
        OpenHgs.Tpm.Transport.TpmTransportException t => (ExitCodes.Unavailable, "TPM unavailable: " + t.Message),
        OpenHgs.Tpm.Commands.TpmException t => (ExitCodes.Refused, "TPM refused the command: " + t.Message),
        FileNotFoundException f => (ExitCodes.BadInput, $"file not found: {f.FileName ?? f.Message}"),
        DirectoryNotFoundException d => (ExitCodes.BadInput, d.Message),
        UnauthorizedAccessException u => (ExitCodes.BadInput, u.Message),
        IOException io => (ExitCodes.BadInput, io.Message),
        CryptographicException c => (ExitCodes.BadInput, "cryptographic input rejected: " + c.Message),
        OperationCanceledException => (ExitCodes.Refused, "cancelled"),
        _ => (ExitCodes.Internal, $"internal error ({ex.GetType().Name}): {ex.Message}"),
    };
}
