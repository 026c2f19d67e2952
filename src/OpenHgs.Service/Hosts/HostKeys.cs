using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Service.Hosts;

/// <summary>Parsing and checking of host public keys (DER SubjectPublicKeyInfo).</summary>
public static class HostKeys
{
    private const int MaxKeyBytes = 4096;

    /// <summary>Accepts PEM ("PUBLIC KEY") or base64 DER; returns DER SPKI of an acceptable key or a named refusal.</summary>
    public static byte[] ParsePublicKey(string text, string field)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxKeyBytes * 2)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: the public key is too large.");
        }

        byte[] der;
        try
        {
            der = text.Contains("-----BEGIN", StringComparison.Ordinal) ? PemEncoding.Find(text) is var pem && text[pem.Label] == "PUBLIC KEY"
                    ? Convert.FromBase64String(text[pem.Base64Data])
                    : throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: expected a PEM 'PUBLIC KEY' block.")
                : Convert.FromBase64String(text.Trim());
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not a PEM or base64 public key.");
        }

        Validate(der, field, forSigning: true);
        return der;
    }

    /// <summary>
    /// Checks a DER SPKI: EC on the named curve P-256 or P-384 (judged by the curve OID, not the key size), or RSA ≥ 2048,
    /// for signing keys; RSA ≥ 2048 for encryption keys.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> spki, string field, bool forSigning)
    {
        if (spki.IsEmpty || spki.Length > MaxKeyBytes)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: the public key is empty or too large.");
        }

        // The algorithm is read from the DER, not guessed by trial imports (a failed import throws, and an OpenSSL
        // import costs ≈0.13 ms; this runs on every attestation).
        byte[] der = spki.ToArray();
        string algorithm;
        try
        {
            algorithm = SubjectPublicKeyInfoReader.ReadAlgorithm(der);
        }
        catch (CryptographicException)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not an RSA or EC SubjectPublicKeyInfo.");
        }

        if (algorithm == SubjectPublicKeyInfoReader.RsaEncryptionOid)
        {
            byte[] modulus;
            try
            {
                (modulus, _) = SubjectPublicKeyInfoReader.ReadRsa(der);
            }
            catch (CryptographicException)
            {
                throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not an RSA or EC SubjectPublicKeyInfo.");
            }

            if (SubjectPublicKeyInfoReader.ModulusBits(modulus) < 2048)
            {
                throw ServiceException.BadRequest("PublicKeyUnsupported", $"{field}: RSA keys must be at least 2048 bits.");
            }

            return;
        }

        if (!forSigning)
        {
            throw ServiceException.BadRequest("PublicKeyUnsupported", $"{field}: the host encryption key must be an RSA key of at least 2048 bits.");
        }

        // The curve is judged by the OID the SPKI names, not by the key size: secp256k1 and brainpoolP256r1 are 256 bits
        // too, and explicit parameters (even P-256's) are refused, as RFC 5480 requires.
        string? curve;
        try
        {
            curve = SubjectPublicKeyInfoReader.ReadEcNamedCurve(der);
        }
        catch (CryptographicException)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not an RSA or EC SubjectPublicKeyInfo.");
        }

        // The rule lives with the signed message, where the host's client signs with it too.
        if (HostKeyEvidenceMessage.EcdsaHash(curve) is null)
        {
            throw ServiceException.BadRequest("PublicKeyUnsupported", $"{field}: EC keys must be on P-256 or P-384, not {DescribeCurve(curve)}.");
        }

        // The import checks the point; it is pooled, so the attestations that verify with this key do not import it again.
        try
        {
            PublicKeyPool.Shared.Lease(der).Dispose();
        }
        catch (CryptographicException)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not an RSA or EC SubjectPublicKeyInfo.");
        }
    }

    /// <summary>Lowercase hex SHA-256 of the DER SPKI: how hosts are looked up.</summary>
    public static string Thumbprint(ReadOnlySpan<byte> spki) => Convert.ToHexStringLower(SHA256.HashData(spki));

    /// <summary>
    /// Verifies ES256 on P-256 or ES384 on P-384 (the hash follows the curve the SPKI names), or RS256, over
    /// <paramref name="message"/>; false for any other key, curve or encoding. The key comes from <see cref="PublicKeyPool"/>.
    /// </summary>
    public static bool VerifySignature(ReadOnlySpan<byte> spki, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            byte[] der = spki.ToArray();
            HashAlgorithmName hash;
            switch (SubjectPublicKeyInfoReader.ReadAlgorithm(der))
            {
                case SubjectPublicKeyInfoReader.RsaEncryptionOid:
                    hash = HashAlgorithmName.SHA256;
                    break;
                case SubjectPublicKeyInfoReader.EcPublicKeyOid when HostKeyEvidenceMessage.EcdsaHash(SubjectPublicKeyInfoReader.ReadEcNamedCurve(der)) is { } curveHash:
                    hash = curveHash;
                    break;
                default:
                    return false;
            }

            using var lease = PublicKeyPool.Shared.Lease(der);
            return lease.Key switch
            {
                RSA rsa => rsa.VerifyData(message, signature, hash, RSASignaturePadding.Pkcs1),
                ECDsa ec => ec.VerifyData(message, signature, hash),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// A refused curve for a message: its OID, with a name for a few well-known ones. The OID comes from the request, so
    /// a long one is cut (it is digits and dots only, as the DER reader writes it).
    /// </summary>
    private static string DescribeCurve(string? curve)
    {
        if (curve is null)
        {
            return "explicit or implicit curve parameters (a named curve is required)";
        }

        string shown = curve.Length <= 64 ? curve : curve[..64] + "…";
        return CurveName(curve) is { } name ? $"{shown} ({name})" : shown;
    }

    private static string? CurveName(string oid) => oid switch
    {
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.33" => "P-224",
        "1.3.132.0.35" => "P-521",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        _ => null,
    };
}
