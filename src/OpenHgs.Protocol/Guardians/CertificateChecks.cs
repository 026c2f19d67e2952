using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.X509;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// The certificate checks shared by guardian metadata and key protector verification. Every check fails
/// closed: anything that does not parse or verify counts as "no".
/// </summary>
/// <remarks>
/// BouncyCastle parses the DER (and hands out the to-be-signed bytes); keys and signatures are handled by .NET.
/// BouncyCastle's own <c>GetPublicKey()</c> is avoided on purpose: it runs a Miller–Rabin test on every RSA
/// modulus (~20 ms of CPU each), which would make key protector verification cost ~100× more than the RSA
/// operations it exists for.
/// </remarks>
internal static class CertificateChecks
{
    public const int MaxCertificateBytes = 16 * 1024;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 8192;

    private const string RsaEncryptionOid = "1.2.840.113549.1.1.1";

    // Certificate signature algorithms accepted for guardian certificates: RSASSA-PKCS1-v1_5 with SHA-2.
    private static readonly Dictionary<string, HashAlgorithmName> SignatureAlgorithms = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.11"] = HashAlgorithmName.SHA256, // sha256WithRSAEncryption
        ["1.2.840.113549.1.1.12"] = HashAlgorithmName.SHA384, // sha384WithRSAEncryption
        ["1.2.840.113549.1.1.13"] = HashAlgorithmName.SHA512, // sha512WithRSAEncryption
    };

    /// <summary>
    /// Parses a single DER certificate; null if the bytes are empty, too large, not X.509, PEM, BER, or carry
    /// trailing data (the re-encoding must equal the input exactly).
    /// </summary>
    public static X509Certificate? TryParse(byte[]? der)
    {
        if (der is null || der.Length == 0 || der.Length > MaxCertificateBytes)
        {
            return null;
        }

        try
        {
            var certificate = new X509CertificateParser().ReadCertificate(der);
            return certificate is not null && certificate.GetEncoded().AsSpan().SequenceEqual(der) ? certificate : null;
        }
        catch (Exception)
        {
            return null; // fail closed: any parser failure means "not a certificate"
        }
    }

    /// <summary>The certificate's key as a public-only .NET <see cref="RSA"/> (caller disposes) if it is RSA of 2048–8192 bits, else null.</summary>
    public static RSA? TryGetRsaPublicKey(X509Certificate certificate)
    {
        var spki = certificate.CertificateStructure.SubjectPublicKeyInfo;
        if (spki.Algorithm.Algorithm.Id != RsaEncryptionOid)
        {
            return null;
        }

        var rsa = RSA.Create();
        try
        {
            byte[] der = spki.GetDerEncoded();
            rsa.ImportSubjectPublicKeyInfo(der, out int read);
            if (read == der.Length && rsa.KeySize is >= MinRsaBits and <= MaxRsaBits)
            {
                return rsa;
            }
        }
        catch (CryptographicException)
        {
            // fall through: not a usable RSA key
        }

        rsa.Dispose();
        return null;
    }

    /// <summary>True if <paramref name="certificate"/> is signed by <paramref name="issuerKey"/> with RSASSA-PKCS1-v1_5 and SHA-2.</summary>
    public static bool IsSignedBy(X509Certificate certificate, RSA issuerKey)
    {
        var structure = certificate.CertificateStructure;
        var algorithm = structure.SignatureAlgorithm;
        if (!SignatureAlgorithms.TryGetValue(algorithm.Algorithm.Id, out var hash)
            || !(algorithm.Parameters is null || algorithm.Parameters is Asn1Null)
            || !algorithm.Equals(structure.TbsCertificate.Signature))
        {
            return false;
        }

        try
        {
            return issuerKey.VerifyData(certificate.GetTbsCertificate(), certificate.GetSignature(), hash, RSASignaturePadding.Pkcs1);
        }
        catch (Exception)
        {
            return false; // fail closed
        }
    }

    /// <summary>
    /// True if both keys have the same public key. Reads only public parameters, so it works for HSM-backed keys
    /// that cannot export private ones.
    /// </summary>
    public static bool SamePublicKey(RSA a, RSA b)
    {
        var pa = a.ExportParameters(false);
        var pb = b.ExportParameters(false);
        return pa.Modulus is not null && pa.Exponent is not null && pb.Modulus is not null && pb.Exponent is not null
            && TrimLeadingZeros(pa.Modulus).SequenceEqual(TrimLeadingZeros(pb.Modulus))
            && TrimLeadingZeros(pa.Exponent).SequenceEqual(TrimLeadingZeros(pb.Exponent));
    }

    /// <summary>True if <paramref name="certificate"/> (DER) parses, holds an accepted RSA key, and that key is <paramref name="key"/>'s.</summary>
    public static bool CertificateHasKey(byte[] certificate, RSA key)
    {
        var parsed = TryParse(certificate);
        using var certificateKey = parsed is null ? null : TryGetRsaPublicKey(parsed);
        return certificateKey is not null && SamePublicKey(key, certificateKey);
    }

    private static ReadOnlySpan<byte> TrimLeadingZeros(byte[] value)
    {
        int start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value.AsSpan(start);
    }
}
