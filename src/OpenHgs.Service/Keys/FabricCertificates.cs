using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Service.Keys;

/// <summary>
/// Certificates for the fabric's keys. Signing keys (KPS signing, attestation signer) get self-signed CA
/// certificates (path length 0); KPS encryption keys get keyEncipherment certificates issued by the
/// primary KPS signing key (RSA or EC P-256: the certificate signature is then sha256WithRSAEncryption or
/// ecdsa-with-SHA256), which is what makes the fabric a guardian tenants can wrap to.
/// </summary>
internal static class FabricCertificates
{
    public static readonly TimeSpan Validity = TimeSpan.FromDays(3650);

    public static byte[] IssueSelfSigned(string commonName, AsymmetricAlgorithm key, DateTimeOffset now)
    {
        var subject = Name(commonName);
        var request = key switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, HashAlgorithmName.SHA256),
            _ => throw new ArgumentException("Unsupported key type.", nameof(key)),
        };
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.Create(subject, Generator(key), now.AddMinutes(-5), now + Validity, Serial());
        return certificate.RawData;
    }

    public static byte[] IssueEncryption(string commonName, RSA encryptionKey, X509Certificate2 issuerCertificate, AsymmetricAlgorithm issuerKey, DateTimeOffset now)
    {
        var request = new CertificateRequest(Name(commonName), encryptionKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuerCertificate, true, false));
        var notAfter = now + Validity < issuerCertificate.NotAfter ? now + Validity : new DateTimeOffset(issuerCertificate.NotAfter);
        using var certificate = request.Create(issuerCertificate.SubjectName, Generator(issuerKey), now.AddMinutes(-5), notAfter, Serial());
        return certificate.RawData;
    }

    /// <summary>RSASSA-PKCS1-v1_5 for an RSA key, ECDSA for an EC one (both with the request's SHA-256).</summary>
    private static X509SignatureGenerator Generator(AsymmetricAlgorithm key) => key switch
    {
        RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
        ECDsa ec => X509SignatureGenerator.CreateForECDsa(ec),
        _ => throw new ArgumentException("Unsupported key type.", nameof(key)),
    };

    private static X500DistinguishedName Name(string commonName)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName("OpenHGS");
        builder.AddCommonName(commonName);
        return builder.Build();
    }

    private static byte[] Serial()
    {
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }
}
