using System.Security.Cryptography;
using OpenHgs.Crypto;

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

    /// <summary>Checks a DER SPKI: EC P-256/P-384 or RSA ≥ 2048 for signing keys; RSA ≥ 2048 for encryption keys.</summary>
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

        // The import checks the point; it is pooled, so the attestations that verify with this key do not import it again.
        try
        {
            using var lease = PublicKeyPool.Shared.Lease(der);
            if (lease.Ecdsa.KeySize is not (256 or 384))
            {
                throw ServiceException.BadRequest("PublicKeyUnsupported", $"{field}: EC keys must be on P-256 or P-384.");
            }
        }
        catch (CryptographicException)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: not an RSA or EC SubjectPublicKeyInfo.");
        }
    }

    /// <summary>Lowercase hex SHA-256 of the DER SPKI: how hosts are looked up.</summary>
    public static string Thumbprint(ReadOnlySpan<byte> spki) => Convert.ToHexStringLower(SHA256.HashData(spki));

    /// <summary>Verifies ES256/ES384 (r‖s) or RS256 over <paramref name="message"/>; the key comes from <see cref="PublicKeyPool"/>.</summary>
    public static bool VerifySignature(ReadOnlySpan<byte> spki, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var lease = PublicKeyPool.Shared.Lease(spki);
            return lease.Key switch
            {
                RSA rsa => rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                ECDsa ec => ec.VerifyData(message, signature, ec.KeySize == 384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
