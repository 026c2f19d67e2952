using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.Tls;
using OpenHgs.Server.Configuration;

namespace OpenHgs.Server.Tls;

/// <summary>
/// One loaded server certificate: the leaf with its private key, the intermediates sent with it, and the digest of
/// the files it came from (what the reloader compares). Immutable: a rotation builds a new one and swaps it whole.
/// </summary>
public sealed record ServerCertificate(X509Certificate2 Leaf, SslStreamCertificateContext Context, byte[] SourceDigest)
{
    /// <summary>
    /// Reads the certificate named by <paramref name="tls"/> (PEM pair or PKCS#12), checks it can serve TLS now, and
    /// builds its TLS context. Every problem is an <see cref="HgsConfigurationException"/> naming the file.
    /// </summary>
    public static ServerCertificate Load(TlsSettings tls, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(tls);
        ArgumentNullException.ThrowIfNull(time);
        byte[] digest = DigestOf(tls);
        var (leaf, intermediates) = tls.PfxFile is { } pfx ? LoadPkcs12(pfx, tls.PfxPasswordSource) : LoadPem(tls.CertificateFile!, tls.KeyFile!);
        try
        {
            Check(leaf, time.GetUtcNow(), tls.PfxFile ?? tls.CertificateFile!);
            return new ServerCertificate(leaf, SslStreamCertificateContext.Create(leaf, intermediates, offline: true), digest);
        }
        catch
        {
            leaf.Dispose();
            throw;
        }
    }

    /// <summary>SHA-256 over the certificate source files as they are now (unreadable files count as changed content).</summary>
    public static byte[] DigestOf(TlsSettings tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string? file in new[] { tls.PfxFile, tls.CertificateFile, tls.KeyFile })
        {
            if (file is null)
            {
                continue;
            }

            byte[] content;
            try
            {
                content = File.ReadAllBytes(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                content = System.Text.Encoding.UTF8.GetBytes("unreadable:" + ex.GetType().Name);
            }

            hash.AppendData(SHA256.HashData(content));
        }

        return hash.GetHashAndReset();
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPem(string certificateFile, string keyFile)
    {
        RequireFile(certificateFile, "--tls-cert");
        RequireFile(keyFile, "--tls-key");
        X509Certificate2 leaf;
        var all = new X509Certificate2Collection();
        try
        {
            leaf = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            all.ImportFromPemFile(certificateFile);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new HgsConfigurationException("tls", $"the server certificate '{certificateFile}' with key '{keyFile}' cannot be loaded: {ex.Message}");
        }

        // The first certificate of the file is the leaf; the rest are intermediates sent with it.
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all.Skip(1))
        {
            intermediates.Add(certificate);
        }

        return (leaf, intermediates);
    }

    private static (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) LoadPkcs12(string pfxFile, string? passwordSource)
    {
        RequireFile(pfxFile, "--tls-pfx");
        string? password = null;
        if (passwordSource is not null)
        {
            string variable = passwordSource["env:".Length..];
            password = Environment.GetEnvironmentVariable(variable)
                ?? throw new HgsConfigurationException("tls", $"the PKCS#12 password variable {variable} is not set.");
        }

        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12CollectionFromFile(pfxFile, password, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException ex)
        {
            throw new HgsConfigurationException("tls", $"the PKCS#12 file '{pfxFile}' cannot be loaded (wrong password or not PKCS#12?): {ex.Message}");
        }

        var withKey = all.Where(c => c.HasPrivateKey).ToList();
        if (withKey.Count != 1)
        {
            foreach (var certificate in all)
            {
                certificate.Dispose();
            }

            throw new HgsConfigurationException("tls", $"the PKCS#12 file '{pfxFile}' holds {withKey.Count} certificates with a private key; exactly one (the server's) is needed.");
        }

        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all.Where(c => !c.HasPrivateKey))
        {
            intermediates.Add(certificate);
        }

        return (withKey[0], intermediates);
    }

    private static void Check(X509Certificate2 leaf, DateTimeOffset now, string file)
    {
        if (!leaf.HasPrivateKey)
        {
            throw new HgsConfigurationException("tls", $"the server certificate '{file}' comes without its private key.");
        }

        if (now.UtcDateTime < leaf.NotBefore.ToUniversalTime() || now.UtcDateTime > leaf.NotAfter.ToUniversalTime())
        {
            throw new HgsConfigurationException("tls", $"the server certificate '{file}' is not valid now (valid {leaf.NotBefore.ToUniversalTime():O} to {leaf.NotAfter.ToUniversalTime():O}).");
        }

        foreach (var usage in leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>())
        {
            if (!usage.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(o => o.Value == CustomRootChain.ServerAuthentication.Value))
            {
                throw new HgsConfigurationException("tls", $"the server certificate '{file}' has an extended key usage without serverAuth (1.3.6.1.5.5.7.3.1).");
            }
        }
    }

    private static void RequireFile(string path, string option)
    {
        if (!File.Exists(path))
        {
            throw new HgsConfigurationException("tls", $"{option} '{path}' does not exist.");
        }
    }
}
