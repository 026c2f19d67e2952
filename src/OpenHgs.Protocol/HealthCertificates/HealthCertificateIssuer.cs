using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>What the attestation service certifies: the verdict and the host's encryption key (DER SPKI).</summary>
public sealed record HealthCertificateRequest(HealthClaims Claims, byte[] HostEncryptionPublicKey, TimeSpan Validity);

/// <summary>
/// Issues health certificates: X.509 whose subject key is the host's RSA encryption key (key usage
/// keyEncipherment only), signed by the attestation signer through <paramref name="generator"/> (whose key
/// normally lives in the HSM), serial from a CSPRNG, valid from a few minutes before issue.
/// </summary>
public static class HealthCertificateIssuer
{
    public static byte[] Issue(HealthCertificateRequest request, X509Certificate2 signerCertificate, X509SignatureGenerator generator)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(signerCertificate);
        ArgumentNullException.ThrowIfNull(generator);
        var hostKey = PublicKey.CreateFromSubjectPublicKeyInfo(request.HostEncryptionPublicKey, out _);
        if (HostKeyBits(request.HostEncryptionPublicKey) < 2048)
        {
            throw new CryptographicException("The host encryption key must be RSA of at least 2048 bits.");
        }

        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("OpenHGS guarded host");
        subject.AddCommonName(request.Claims.HostName);
        var certificateRequest = new CertificateRequest(subject.Build(), hostKey, HashAlgorithmName.SHA256);
        certificateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        certificateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true));
        certificateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(hostKey, false));
        certificateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signerCertificate, true, false));
        certificateRequest.CertificateExtensions.Add(new X509Extension(HealthCertificateProfile.VerdictExtensionOid, HealthCertificateProfile.EncodeVerdict(request.Claims), critical: false));

        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive INTEGER
        serial[0] |= 0x01; // and no leading zero byte
        var issuedAt = request.Claims.IssuedAt;
        using var certificate = certificateRequest.Create(signerCertificate.SubjectName, generator, issuedAt - HealthCertificateProfile.NotBeforeSkew, issuedAt + request.Validity, serial);
        return certificate.RawData;
    }

    // Read from the DER rather than imported into OpenSSL (≈0.13 ms per attestation for a size check).
    private static int HostKeyBits(byte[] subjectPublicKeyInfo)
    {
        try
        {
            return SubjectPublicKeyInfoReader.ModulusBits(SubjectPublicKeyInfoReader.ReadRsa(subjectPublicKeyInfo).Modulus);
        }
        catch (CryptographicException)
        {
            return 0;
        }
    }
}
