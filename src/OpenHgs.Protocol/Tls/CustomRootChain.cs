using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Protocol.Tls;

/// <summary>
/// Certificate chain checks against exactly the CA certificates an operator named (a PEM file), never the system
/// roots: the client's <c>--ca-cert</c> for the service's certificate, the service's <c>--admin-client-ca</c> for
/// admin client certificates. Revocation is not checked (no CRL or OCSP distribution is part of a fabric).
/// </summary>
public static class CustomRootChain
{
    /// <summary>The TLS server authentication purpose (id-kp-serverAuth).</summary>
    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>The TLS client authentication purpose (id-kp-clientAuth).</summary>
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>Most CA certificates one trust file may hold (a bundle, not a system store).</summary>
    public const int MaxCertificates = 64;

    /// <summary>
    /// Reads a PEM file of one or more CA certificates. Null message: loaded; otherwise why the file is unusable
    /// (the caller turns it into its own configuration error, naming its option).
    /// </summary>
    public static X509Certificate2Collection LoadTrustFile(string path, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(path);
        var certificates = new X509Certificate2Collection();
        problem = null;
        if (!File.Exists(path))
        {
            problem = $"'{path}' does not exist.";
            return certificates;
        }

        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            problem = $"'{path}' cannot be read as PEM certificates: {ex.Message}";
            return certificates;
        }

        if (certificates.Count == 0)
        {
            problem = $"'{path}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).";
        }
        else if (certificates.Count > MaxCertificates)
        {
            problem = $"'{path}' holds {certificates.Count} certificates; at most {MaxCertificates} are accepted.";
        }

        return certificates;
    }

    /// <summary>
    /// Why <paramref name="leaf"/> does not chain to one of <paramref name="roots"/> for <paramref name="purpose"/> at
    /// <paramref name="at"/>, or null when it does. <paramref name="intermediates"/> are what the peer sent beside it.
    /// </summary>
    public static string? Problem(X509Certificate2 leaf, X509Certificate2Collection roots, Oid purpose, DateTimeOffset at, X509Certificate2Collection? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(purpose);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(purpose);
        if (intermediates is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        }

        try
        {
            if (chain.Build(leaf))
            {
                return null;
            }

            var statuses = chain.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError).ToList();
            return statuses.Count == 0
                ? "the chain could not be built"
                : string.Join("; ", statuses.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, leaf))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }
}
