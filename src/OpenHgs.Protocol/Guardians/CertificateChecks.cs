using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// The certificate checks shared by guardian metadata and key protector verification. Every check fails
/// closed: anything BouncyCastle cannot parse or verify counts as "no".
/// </summary>
internal static class CertificateChecks
{
    public const int MaxCertificateBytes = 16 * 1024;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 8192;

    // Certificate signature algorithms accepted for guardian certificates: RSA with SHA-2 (PKCS#1 v1.5 or PSS).
    private static readonly HashSet<string> AcceptedSignatureAlgorithms = new(StringComparer.Ordinal)
    {
        "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
        "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
        "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
        "1.2.840.113549.1.1.10", // RSASSA-PSS
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

    /// <summary>The certificate's RSA public key if it is RSA of an accepted size, else null.</summary>
    public static RsaKeyParameters? TryGetRsaKey(X509Certificate certificate)
    {
        try
        {
            return certificate.GetPublicKey() is RsaKeyParameters { IsPrivate: false } key
                && key.Modulus.BitLength is >= MinRsaBits and <= MaxRsaBits
                && key.Exponent.SignValue > 0
                ? key
                : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>True if <paramref name="certificate"/> is signed by <paramref name="issuerKey"/> with RSA and SHA-2.</summary>
    public static bool IsSignedBy(X509Certificate certificate, AsymmetricKeyParameter issuerKey)
    {
        if (!AcceptedSignatureAlgorithms.Contains(certificate.SigAlgOid))
        {
            return false;
        }

        try
        {
            certificate.Verify(issuerKey);
            return true;
        }
        catch (Exception)
        {
            return false; // fail closed
        }
    }

    /// <summary>A .NET public-only RSA object for <paramref name="key"/>; the caller disposes it.</summary>
    public static RSA ToRsa(RsaKeyParameters key)
    {
        var rsa = RSA.Create();
        rsa.ImportParameters(new RSAParameters
        {
            Modulus = key.Modulus.ToByteArrayUnsigned(),
            Exponent = key.Exponent.ToByteArrayUnsigned(),
        });
        return rsa;
    }

    /// <summary>
    /// True if <paramref name="key"/> has the public key <paramref name="certificateKey"/>. Reads only the public
    /// parameters, so it works for HSM-backed keys that cannot export private ones.
    /// </summary>
    public static bool HasPublicKey(RSA key, RsaKeyParameters certificateKey)
    {
        var parameters = key.ExportParameters(false);
        return parameters.Modulus is not null && parameters.Exponent is not null
            && new BigInteger(1, parameters.Modulus).Equals(certificateKey.Modulus)
            && new BigInteger(1, parameters.Exponent).Equals(certificateKey.Exponent);
    }

    /// <summary>True if <paramref name="certificate"/> (DER) parses, holds an accepted RSA key, and that key is <paramref name="key"/>'s.</summary>
    public static bool CertificateHasKey(byte[] certificate, RSA key)
    {
        var parsed = TryParse(certificate);
        var certificateKey = parsed is null ? null : TryGetRsaKey(parsed);
        return certificateKey is not null && HasPublicKey(key, certificateKey);
    }
}
