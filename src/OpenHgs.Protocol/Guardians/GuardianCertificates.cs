using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// Issues a guardian's certificate pair: a self-signed signing certificate (a CA limited to path length 0) and
/// an encryption certificate issued by it.
/// </summary>
/// <remarks>
/// Security contract: both keys are used only through their public surface (public parameters, SignHash), so they
/// may be HSM-backed keys whose private parts cannot be exported. The signing key is RSA 2048–8192 (signatures
/// RSASSA-PKCS1-v1_5 with SHA-256) or EC P-256 (ECDSA with SHA-256: a key protection service whose rolled key
/// protectors are ES256); the encryption key is RSA 2048–8192. Serial numbers are 16 random bytes (positive, no
/// leading zero byte).
/// </remarks>
public static class GuardianCertificates
{
    /// <summary>Issues the signing certificate (CN=<paramref name="name"/> Signing) and encryption certificate (CN=<paramref name="name"/> Encryption), both DER.</summary>
    /// <exception cref="ArgumentException">The name is not a valid guardian name, the signing key is not RSA 2048–8192 or EC P-256, the encryption key is not RSA 2048–8192, or the validity window is empty.</exception>
    public static (byte[] signingCert, byte[] encryptionCert) Issue(string name, AsymmetricAlgorithm signingKey, RSA encryptionKey, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentNullException.ThrowIfNull(encryptionKey);
        if (!GuardianMetadata.IsValidName(name))
        {
            throw new ArgumentException($"A guardian name is 1 to {GuardianMetadata.MaxNameLength} characters without control characters or outer whitespace.", nameof(name));
        }

        switch (signingKey)
        {
            case RSA rsa:
                RequireKeySize(rsa, nameof(signingKey));
                break;
            case ECDsa { KeySize: 256 }:
                break;
            default:
                throw new ArgumentException("A guardian signing key is RSA of 2048 to 8192 bits or EC P-256.", nameof(signingKey));
        }

        RequireKeySize(encryptionKey, nameof(encryptionKey));
        if (notAfter <= notBefore)
        {
            throw new ArgumentException("notAfter must be later than notBefore.", nameof(notAfter));
        }

        var generator = signingKey is RSA rsaSigner
            ? X509SignatureGenerator.CreateForRSA(rsaSigner, RSASignaturePadding.Pkcs1)
            : X509SignatureGenerator.CreateForECDsa((ECDsa)signingKey);

        var signingSubject = Subject($"{name} Signing");
        var signingRequest = new CertificateRequest(signingSubject, generator.PublicKey, HashAlgorithmName.SHA256);
        signingRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        signingRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, critical: true));
        signingRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(signingRequest.PublicKey, critical: false));
        using var signingCertificate = signingRequest.Create(signingSubject, generator, notBefore, notAfter, NewSerial());

        var encryptionRequest = new CertificateRequest(Subject($"{name} Encryption"), encryptionKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        encryptionRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        encryptionRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true));
        encryptionRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(encryptionRequest.PublicKey, critical: false));
        encryptionRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signingCertificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var encryptionCertificate = encryptionRequest.Create(signingSubject, generator, notBefore, notAfter, NewSerial());

        return (signingCertificate.RawData, encryptionCertificate.RawData);
    }

    private static X500DistinguishedName Subject(string commonName)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName(commonName);
        return builder.Build();
    }

    private static byte[] NewSerial()
    {
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive INTEGER
        serial[0] |= 0x01; // and no leading zero byte
        return serial;
    }

    private static void RequireKeySize(RSA key, string parameterName)
    {
        if (key.KeySize is < CertificateChecks.MinRsaBits or > CertificateChecks.MaxRsaBits)
        {
            throw new ArgumentException($"Guardian keys are RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits, not {key.KeySize}.", parameterName);
        }
    }
}
