using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>Why a health certificate was refused.</summary>
public enum HealthCertificateError
{
    Malformed,
    UntrustedSigner,
    NotYetValid,
    Expired,
    IssuedBeforeDenyDate,
    MissingVerdict,
    NotForEncryption,
}

public sealed class HealthCertificateException(HealthCertificateError error, string message) : Exception(message)
{
    public HealthCertificateError Error { get; } = error;
}

/// <summary>A health certificate that passed every check: its verdict and the host key to re-wrap to (DER SPKI).</summary>
public sealed record ValidatedHealthCertificate(HealthClaims Claims, byte[] HostEncryptionPublicKey, string SerialNumber, DateTimeOffset NotAfter);

/// <summary>
/// Checks a health certificate as the key protection service must before releasing anything: it parses,
/// its signature verifies under one of the trusted attestation signer certificates, it is inside its validity
/// window, it was not issued before the deny date, and it carries the verdict extension and an RSA key
/// usable for key encipherment.
/// </summary>
public sealed class HealthCertificateValidator
{
    private const int MaxCertificateBytes = 16 * 1024;
    private readonly IReadOnlyList<X509Certificate> _trustedSigners;

    /// <param name="trustedSignerCertificates">DER certificates of the enabled attestation signers.</param>
    public HealthCertificateValidator(IEnumerable<byte[]> trustedSignerCertificates)
    {
        ArgumentNullException.ThrowIfNull(trustedSignerCertificates);
        _trustedSigners = trustedSignerCertificates.Select(der => new X509CertificateParser().ReadCertificate(der)).ToList();
    }

    public ValidatedHealthCertificate Validate(ReadOnlySpan<byte> der, DateTimeOffset now, DateTimeOffset? denyBefore)
    {
        if (der.IsEmpty || der.Length > MaxCertificateBytes)
        {
            throw new HealthCertificateException(HealthCertificateError.Malformed, $"The health certificate must be 1 to {MaxCertificateBytes} bytes of DER.");
        }

        X509Certificate certificate;
        try
        {
            certificate = new X509CertificateParser().ReadCertificate(der.ToArray())
                ?? throw new HealthCertificateException(HealthCertificateError.Malformed, "The health certificate is not an X.509 certificate.");
        }
        catch (Exception ex) when (ex is not HealthCertificateException)
        {
            throw new HealthCertificateException(HealthCertificateError.Malformed, "The health certificate is not valid DER X.509.");
        }

        if (!_trustedSigners.Any(signer => signer.SubjectDN.Equivalent(certificate.IssuerDN) && VerifiesUnder(certificate, signer)))
        {
            throw new HealthCertificateException(HealthCertificateError.UntrustedSigner, "The health certificate is not signed by a trusted attestation signer.");
        }

        var notBefore = new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero);
        var notAfter = new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero);
        if (now < notBefore)
        {
            throw new HealthCertificateException(HealthCertificateError.NotYetValid, $"The health certificate is not valid before {notBefore:O}.");
        }

        if (now > notAfter)
        {
            throw new HealthCertificateException(HealthCertificateError.Expired, $"The health certificate expired at {notAfter:O}.");
        }

        var claims = ReadClaims(certificate);
        if (denyBefore is { } deny && claims.IssuedAt < deny)
        {
            throw new HealthCertificateException(HealthCertificateError.IssuedBeforeDenyDate, $"The health certificate was issued at {claims.IssuedAt:O}, before the deny date {deny:O}; attest again.");
        }

        bool[]? usage = certificate.GetKeyUsage();
        if (usage is null || usage.Length < 3 || !usage[2] || certificate.GetPublicKey() is not Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)
        {
            throw new HealthCertificateException(HealthCertificateError.NotForEncryption, "The health certificate's key is not an RSA key for key encipherment.");
        }

        byte[] spki = certificate.CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded();
        return new ValidatedHealthCertificate(claims, spki, certificate.SerialNumber.ToString(16), notAfter);
    }

    private static bool VerifiesUnder(X509Certificate certificate, X509Certificate signer)
    {
        try
        {
            certificate.Verify(signer.GetPublicKey());
            return true;
        }
        catch (Exception ex) when (ex is InvalidKeyException or SignatureException or Org.BouncyCastle.Security.Certificates.CertificateException or Org.BouncyCastle.Crypto.CryptoException or ArgumentException)
        {
            return false;
        }
    }

    private static HealthClaims ReadClaims(X509Certificate certificate)
    {
        var value = certificate.GetExtensionValue(new DerObjectIdentifier(HealthCertificateProfile.VerdictExtensionOid));
        if (value is null)
        {
            throw new HealthCertificateException(HealthCertificateError.MissingVerdict, "The health certificate carries no OpenHGS verdict extension.");
        }

        try
        {
            return HealthCertificateProfile.DecodeVerdict(value.GetOctets());
        }
        catch (Exception ex) when (ex is FormatException or System.Formats.Asn1.AsnContentException or System.Security.Cryptography.CryptographicException)
        {
            throw new HealthCertificateException(HealthCertificateError.MissingVerdict, "The health certificate's verdict extension is malformed.");
        }
    }
}
