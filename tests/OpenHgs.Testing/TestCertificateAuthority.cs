using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OpenHgs.Testing;

/// <summary>
/// A throwaway certificate authority for TLS tests (ECDSA P-256, valid for a day): issues server certificates for
/// loopback addresses and client certificates, and writes them as an operator would hand them over (PEM, PKCS#12).
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificateAuthority(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + name), _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        Certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    /// <summary>The CA certificate (with its key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Writes the CA certificate as PEM (what <c>--ca-cert</c> and <c>--admin-client-ca</c> take).</summary>
    public string WriteCertificate(string path)
    {
        File.WriteAllText(path, Certificate.ExportCertificatePem() + "\n", Encoding.ASCII);
        return path;
    }

    /// <summary>A TLS server certificate for <paramref name="addresses"/> (IP addresses or DNS names), EKU serverAuth.</summary>
    public X509Certificate2 IssueServer(string subject, params string[] addresses)
    {
        var names = new SubjectAlternativeNameBuilder();
        foreach (string address in addresses)
        {
            if (IPAddress.TryParse(address, out var ip))
            {
                names.AddIpAddress(ip);
            }
            else
            {
                names.AddDnsName(address);
            }
        }

        return Issue(subject, CustomPurpose("1.3.6.1.5.5.7.3.1"), names.Build());
    }

    /// <summary>A TLS client certificate, EKU clientAuth.</summary>
    public X509Certificate2 IssueClient(string subject) => Issue(subject, CustomPurpose("1.3.6.1.5.5.7.3.2"), null);

    /// <summary>Writes a certificate and its private key as PEM files (certificate; PKCS#8 key, 0600).</summary>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA private key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n", Encoding.ASCII);
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n", Encoding.ASCII);
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Writes a certificate with its key as a password-protected PKCS#12 file.</summary>
    public static void WritePkcs12(X509Certificate2 certificate, string path, string password)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }

    private static X509EnhancedKeyUsageExtension CustomPurpose(string oid) => new([new Oid(oid)], false);

    private X509Certificate2 Issue(string subject, X509EnhancedKeyUsageExtension purpose, X509Extension? names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + subject), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(purpose);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        if (names is not null)
        {
            request.CertificateExtensions.Add(names);
        }

        var now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(Certificate, now.AddMinutes(-5), now.AddHours(12), serial);
        return issued.CopyWithPrivateKey(key);
    }
}
