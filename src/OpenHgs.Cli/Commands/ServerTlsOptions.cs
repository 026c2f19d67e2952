using System.CommandLine;
using OpenHgs.Server.Configuration;

namespace OpenHgs.Cli.Commands;

/// <summary>The service's TLS options, shared by <c>server init</c> (stored in hgs.json) and <c>server run</c> (used as given).</summary>
internal sealed class ServerTlsOptions
{
    private readonly Option<string> _certificate = CliOptions.Path("--tls-cert", "Server certificate (PEM; intermediates may follow the leaf) for https:// listeners.");
    private readonly Option<string> _key = CliOptions.Path("--tls-key", "Private key of --tls-cert (PEM, not encrypted).");
    private readonly Option<string> _pfx = CliOptions.Path("--tls-pfx", "Server certificate, key and intermediates as PKCS#12 (instead of --tls-cert/--tls-key).");
    private readonly Option<string> _pfxPasswordEnv = CliOptions.Path("--tls-pfx-password-env", "Environment variable holding the PKCS#12 password (the password is never stored).");
    private readonly Option<string> _adminClientCa = CliOptions.Path("--admin-client-ca", "CA certificate(s) (PEM) that admin client certificates must chain to: mutual TLS on /admin/v1.");
    private readonly Option<string> _adminAuth = new("--admin-auth")
    {
        Description = "How /admin/v1 authenticates: token | client-cert | both (default: both with --admin-client-ca, else token).",
    };

    public void AddTo(Command command)
    {
        foreach (var option in new[] { _certificate, _key, _pfx, _pfxPasswordEnv, _adminClientCa, _adminAuth })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The settings given, or null when no TLS option was given at all.</summary>
    public TlsSettings? From(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var settings = new TlsSettings
        {
            CertificateFile = parse.GetValue(_certificate),
            KeyFile = parse.GetValue(_key),
            PfxFile = parse.GetValue(_pfx),
            PfxPasswordSource = parse.GetValue(_pfxPasswordEnv) is { } variable ? "env:" + variable : null,
            AdminClientCaFile = parse.GetValue(_adminClientCa),
            AdminAuth = parse.GetValue(_adminAuth),
        };
        return settings.IsEmpty ? null : settings.WithAbsolutePaths(Environment.CurrentDirectory);
    }
}
