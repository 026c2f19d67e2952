using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;

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
/// its signature verifies under one of the trusted attestation signer keys, it is inside its validity window,
/// it was not issued before the deny date, and it carries the verdict extension and an RSA key usable for key
/// encipherment. Build one per set of trusted signers and reuse it: it holds their parsed public keys, and
/// is safe to use from many threads.
/// </summary>
/// <remarks>
/// A host presents the same health certificate for every VM it starts during the certificate's lifetime, so a
/// certificate that passed every check that does not depend on time is remembered (bounded, keyed by the SHA-256 of
/// its DER, bytes compared on a hit) and later presentations re-check only its validity window and the deny date.
/// The memo belongs to this instance, that is to one set of trusted signers: a new signer set starts empty.
/// </remarks>
public sealed class HealthCertificateValidator
{
    private const int MaxCertificateBytes = 16 * 1024;
    private const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    private const string EcdsaSha384 = "1.2.840.10045.4.3.3";
    private const string RsaSha256 = "1.2.840.113549.1.1.11";
    private readonly IReadOnlyList<TrustedSigner> _signers;
    private readonly BoundedMemo<CheckedCertificate> _checked = new(8192);

    /// <param name="trustedSignerCertificates">DER certificates of the enabled attestation signers.</param>
    public HealthCertificateValidator(IEnumerable<byte[]> trustedSignerCertificates)
    {
        ArgumentNullException.ThrowIfNull(trustedSignerCertificates);
        _signers = trustedSignerCertificates.Select(TrustedSigner.From).ToList();
    }

    public ValidatedHealthCertificate Validate(ReadOnlySpan<byte> der, DateTimeOffset now, DateTimeOffset? denyBefore)
    {
        if (der.IsEmpty || der.Length > MaxCertificateBytes)
        {
            throw new HealthCertificateException(HealthCertificateError.Malformed, $"The health certificate must be 1 to {MaxCertificateBytes} bytes of DER.");
        }

        var key = ContentHash.Of(der);
        if (_checked.TryGet(key, out var known) && known.Der.AsSpan().SequenceEqual(der))
        {
            CheckValidity(known.NotBefore, known.NotAfter, now);
            CheckDenyDate(known.Result.Claims, denyBefore);
            return known.Result;
        }

        byte[] bytes = der.ToArray();
        var (tbs, algorithm, signature) = SplitSigned(bytes);
        using var certificate = Load(bytes);
        if (!_signers.Any(s => s.Issued(certificate, tbs, algorithm, signature)))
        {
            throw new HealthCertificateException(HealthCertificateError.UntrustedSigner, "The health certificate is not signed by a trusted attestation signer.");
        }

        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        CheckValidity(notBefore, notAfter, now);
        var claims = ReadClaims(certificate);
        CheckDenyDate(claims, denyBefore);
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().SingleOrDefault();
        using var hostKey = certificate.GetRSAPublicKey();
        if (usage is null || !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment) || hostKey is null || hostKey.KeySize < 2048)
        {
            throw new HealthCertificateException(HealthCertificateError.NotForEncryption, "The health certificate's key is not an RSA (≥ 2048-bit) key for key encipherment.");
        }

        var result = new ValidatedHealthCertificate(claims, certificate.PublicKey.ExportSubjectPublicKeyInfo(), certificate.SerialNumber, notAfter);
        _checked.Add(key, new CheckedCertificate(bytes, notBefore, notAfter, result));
        return result;
    }

    private static void CheckValidity(DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset now)
    {
        if (now < notBefore)
        {
            throw new HealthCertificateException(HealthCertificateError.NotYetValid, $"The health certificate is not valid before {notBefore:O}.");
        }

        if (now > notAfter)
        {
            throw new HealthCertificateException(HealthCertificateError.Expired, $"The health certificate expired at {notAfter:O}.");
        }
    }

    private static void CheckDenyDate(HealthClaims claims, DateTimeOffset? denyBefore)
    {
        if (denyBefore is { } deny && claims.IssuedAt < deny)
        {
            throw new HealthCertificateException(HealthCertificateError.IssuedBeforeDenyDate, $"The health certificate was issued at {claims.IssuedAt:O}, before the deny date {deny:O}; attest again.");
        }
    }

    private static X509Certificate2 Load(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            throw new HealthCertificateException(HealthCertificateError.Malformed, "The health certificate is not valid DER X.509.");
        }
    }

    /// <summary>Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }.</summary>
    private static (ReadOnlyMemory<byte> Tbs, string Algorithm, byte[] Signature) SplitSigned(byte[] der)
    {
        try
        {
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            var certificate = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            var tbs = certificate.ReadEncodedValue();
            var algorithm = certificate.ReadSequence();
            string oid = algorithm.ReadObjectIdentifier();
            byte[] signature = certificate.ReadBitString(out int unused);
            certificate.ThrowIfNotEmpty();
            return unused == 0
                ? (tbs, oid, signature)
                : throw new HealthCertificateException(HealthCertificateError.Malformed, "The health certificate's signature is not a whole number of bytes.");
        }
        catch (AsnContentException)
        {
            throw new HealthCertificateException(HealthCertificateError.Malformed, "The health certificate is not valid DER X.509.");
        }
    }

    private static HealthClaims ReadClaims(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions[HealthCertificateProfile.VerdictExtensionOid]
            ?? throw new HealthCertificateException(HealthCertificateError.MissingVerdict, "The health certificate carries no OpenHGS verdict extension.");
        try
        {
            return HealthCertificateProfile.DecodeVerdict(extension.RawData);
        }
        catch (Exception ex) when (ex is FormatException or AsnContentException or CryptographicException)
        {
            throw new HealthCertificateException(HealthCertificateError.MissingVerdict, "The health certificate's verdict extension is malformed.");
        }
    }

    /// <summary>A certificate that passed every time-independent check, and the answer it gave.</summary>
    private sealed record CheckedCertificate(byte[] Der, DateTimeOffset NotBefore, DateTimeOffset NotAfter, ValidatedHealthCertificate Result);

    private sealed record TrustedSigner(byte[] Subject, ECDsa? Ec, RSA? Rsa)
    {
        public static TrustedSigner From(byte[] der)
        {
            using var certificate = X509CertificateLoader.LoadCertificate(der);
            return new TrustedSigner(certificate.SubjectName.RawData, certificate.GetECDsaPublicKey(), certificate.GetRSAPublicKey());
        }

        public bool Issued(X509Certificate2 certificate, ReadOnlyMemory<byte> tbs, string algorithm, byte[] signature)
        {
            if (!certificate.IssuerName.RawData.AsSpan().SequenceEqual(Subject))
            {
                return false;
            }

            try
            {
                return (algorithm, Ec, Rsa) switch
                {
                    (EcdsaSha256, { } ec, _) => ec.VerifyData(tbs.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence),
                    (EcdsaSha384, { } ec, _) => ec.VerifyData(tbs.Span, signature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence),
                    (RsaSha256, _, { } rsa) => rsa.VerifyData(tbs.Span, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                    _ => false,
                };
            }
            catch (CryptographicException)
            {
                return false;
            }
        }
    }
}
