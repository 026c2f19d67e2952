using System.Text.Json.Serialization;

namespace OpenHgs.Server.Configuration;

/// <summary>How <c>/admin/v1</c> authenticates a caller.</summary>
public enum AdminAuthMode
{
    /// <summary>The bearer credential of <c>DATA/admin.token</c> (the default without an admin client CA).</summary>
    Token,

    /// <summary>A TLS client certificate chaining to the admin client CA; no bearer credential.</summary>
    ClientCertificate,

    /// <summary>Both: a client certificate from the admin CA and the bearer credential (the default with an admin CA).</summary>
    Both,
}

/// <summary>
/// The service's TLS: its certificate (a PEM certificate and key, or a PKCS#12 file whose password comes from a
/// source such as <c>env:VAR</c>) and, optionally, the CA that admin client certificates must chain to. It names
/// files and a password source, never a secret, so <c>hgs server init</c> can keep it in <c>DATA/hgs.json</c>.
/// </summary>
public sealed record TlsSettings
{
    public const string TokenName = "token";
    public const string ClientCertificateName = "client-cert";
    public const string BothName = "both";

    /// <summary>PEM server certificate, optionally followed by its intermediates.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="CertificateFile"/> (PKCS#8, PKCS#1 or SEC1; not encrypted).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? KeyFile { get; init; }

    /// <summary>PKCS#12 file with the server certificate, its key and any intermediates.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PfxFile { get; init; }

    /// <summary>Where the PKCS#12 password comes from: <c>env:VAR</c>. None: the file has no password.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PfxPasswordSource { get; init; }

    /// <summary>PEM CA certificate(s) that admin client certificates must chain to (mutual TLS on <c>/admin/v1</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? AdminClientCaFile { get; init; }

    /// <summary><c>token</c>, <c>client-cert</c> or <c>both</c>; none: <c>both</c> with an admin client CA, else <c>token</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? AdminAuth { get; init; }

    /// <summary>Whether a server certificate is configured (https:// listeners are possible).</summary>
    [JsonIgnore]
    public bool HasCertificate => CertificateFile is not null || PfxFile is not null;

    /// <summary>The effective admin authentication (<see cref="Validate"/> first).</summary>
    [JsonIgnore]
    public AdminAuthMode AdminAuthMode => AdminAuth switch
    {
        null => AdminClientCaFile is null ? AdminAuthMode.Token : AdminAuthMode.Both,
        TokenName => AdminAuthMode.Token,
        ClientCertificateName => AdminAuthMode.ClientCertificate,
        BothName => AdminAuthMode.Both,
        _ => throw new HgsConfigurationException("adminAuth", $"--admin-auth '{AdminAuth}' is not one of {TokenName}, {ClientCertificateName}, {BothName}."),
    };

    /// <summary>True when nothing is set (no TLS at all).</summary>
    [JsonIgnore]
    public bool IsEmpty => this == new TlsSettings();

    /// <summary>Checks that the settings are complete and consistent (not yet that the files are good).</summary>
    public void Validate()
    {
        if (PfxFile is not null && (CertificateFile is not null || KeyFile is not null))
        {
            throw new HgsConfigurationException("tls", "choose one server certificate: --tls-cert FILE --tls-key FILE (PEM) or --tls-pfx FILE (PKCS#12), not both.");
        }

        if ((CertificateFile is null) != (KeyFile is null))
        {
            throw new HgsConfigurationException("tls", CertificateFile is null ? "--tls-key needs --tls-cert." : "--tls-cert needs --tls-key (the certificate's PEM private key).");
        }

        if (PfxPasswordSource is not null && PfxFile is null)
        {
            throw new HgsConfigurationException("tls", "--tls-pfx-password-env needs --tls-pfx.");
        }

        if (PfxPasswordSource is not null && !PfxPasswordSource.StartsWith("env:", StringComparison.Ordinal))
        {
            throw new HgsConfigurationException("tls", $"the PKCS#12 password source '{PfxPasswordSource}' is not env:VAR.");
        }

        var mode = AdminAuthMode;
        if (AdminClientCaFile is null && mode != AdminAuthMode.Token)
        {
            throw new HgsConfigurationException("adminAuth", $"--admin-auth {AdminAuth} needs --admin-client-ca FILE (the CA admin client certificates chain to).");
        }

        if (AdminClientCaFile is not null && mode == AdminAuthMode.Token)
        {
            throw new HgsConfigurationException("adminAuth", "--admin-client-ca is given but --admin-auth token ignores client certificates; use client-cert or both.");
        }

        if (AdminClientCaFile is not null && !HasCertificate)
        {
            throw new HgsConfigurationException("adminClientCa", "--admin-client-ca needs a server certificate (--tls-cert/--tls-key or --tls-pfx): client certificates exist only over TLS.");
        }
    }

    /// <summary>The same settings with every file made absolute against <paramref name="directory"/> (as stored in hgs.json).</summary>
    public TlsSettings WithAbsolutePaths(string directory) => this with
    {
        CertificateFile = Absolute(CertificateFile, directory),
        KeyFile = Absolute(KeyFile, directory),
        PfxFile = Absolute(PfxFile, directory),
        AdminClientCaFile = Absolute(AdminClientCaFile, directory),
    };

    private static string? Absolute(string? path, string directory) => path is null ? null : Path.GetFullPath(path, directory);
}
