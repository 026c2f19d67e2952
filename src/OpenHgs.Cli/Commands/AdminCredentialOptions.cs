using System.CommandLine;
using OpenHgs.Client;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// How a command authenticates to <c>/admin/v1</c>: <c>--token</c>/<c>--token-file</c> (else <c>$HGS_ADMIN_TOKEN</c>,
/// <c>$HGS_ADMIN_TOKEN_FILE</c>), <c>--ca-cert</c>, <c>--client-cert</c>/<c>--client-key</c> (else <c>$HGS_CACERT</c>,
/// <c>$HGS_CLIENT_CERT</c>, <c>$HGS_CLIENT_KEY</c>). One set of options for every command that calls admin routes.
/// </summary>
internal sealed class AdminCredentialOptions
{
    private readonly Option<string> _token = CliOptions.Token();
    private readonly Option<string> _tokenFile = CliOptions.TokenFile();
    private readonly Option<string> _caCertificate = CliOptions.CaCertificate();
    private readonly Option<string> _clientCertificate = CliOptions.ClientCertificate();
    private readonly Option<string> _clientKey = CliOptions.ClientKey();

    public IEnumerable<Option> Options => [_token, _tokenFile, _caCertificate, _clientCertificate, _clientKey];

    /// <summary>The admin token (null when a client certificate authenticates alone) and the TLS options; refuses when neither is given.</summary>
    public (string? Token, ClientTlsOptions Tls) Resolve(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var tls = new ClientTlsOptions(
            CliEnvironment.Path(parse.GetValue(_caCertificate), "HGS_CACERT"),
            CliEnvironment.Path(parse.GetValue(_clientCertificate), "HGS_CLIENT_CERT"),
            CliEnvironment.Path(parse.GetValue(_clientKey), "HGS_CLIENT_KEY"));
        string? secret = AdminToken(parse.GetValue(_token), parse.GetValue(_tokenFile));
        if (secret is null && tls.ClientCertificateFile is null)
        {
            throw new CliException("no admin credential: pass --token-file (e.g. DATA/admin.token) or --token, set HGS_ADMIN_TOKEN_FILE or HGS_ADMIN_TOKEN, or use a client certificate (--client-cert/--client-key).");
        }

        return (secret, tls);
    }

    /// <summary>
    /// The admin token: <c>--token</c> or <c>--token-file</c> (not both), else <c>$HGS_ADMIN_TOKEN</c>, else the file
    /// <c>$HGS_ADMIN_TOKEN_FILE</c> names. A token file must be a small text file; its content is never echoed.
    /// </summary>
    private static string? AdminToken(string? token, string? tokenFile)
    {
        if (token is not null && tokenFile is not null)
        {
            throw new CliException("--token and --token-file are alternatives: pass one.");
        }

        if (token is not null)
        {
            return token.Trim();
        }

        if (tokenFile is null && Environment.GetEnvironmentVariable("HGS_ADMIN_TOKEN") is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment.Trim();
        }

        string? file = tokenFile ?? (Environment.GetEnvironmentVariable("HGS_ADMIN_TOKEN_FILE") is { Length: > 0 } named ? named : null);
        if (file is not null)
        {
            string text = System.Text.Encoding.UTF8.GetString(CliOutput.ReadFile(file, "admin token file", 4096)).Trim();
            return text.Length > 0 && !text.Any(char.IsWhiteSpace)
                ? text
                : throw new CliException($"admin token file '{file}' does not hold one token.");
        }

        return null;
    }
}
