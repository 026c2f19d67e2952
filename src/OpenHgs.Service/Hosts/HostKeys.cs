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
    /// Checks a DER SPKI: for signing keys, the shared host signing key rule (<see cref="HostSigningKeys.Judge"/>: EC on the
    /// named curve P-256 or P-384, judged by the curve OID, or RSA ≥ 2048); for encryption keys, RSA ≥ 2048.
    /// </summary>
    public static void Validate(ReadOnlySpan<byte> spki, string field, bool forSigning)
    {
        if (spki.IsEmpty || spki.Length > MaxKeyBytes)
        {
            throw ServiceException.BadRequest("PublicKeyMalformed", $"{field}: the public key is empty or too large.");
        }

        // The key is judged from the DER, not by trial imports (a failed import throws, and an OpenSSL import costs
        // ≈0.13 ms; this runs on every attestation).
        byte[] der = spki.ToArray();
        if (forSigning)
        {
            var verdict = HostSigningKeys.Judge(der);
            if (!verdict.IsAccepted)
            {
                throw ServiceException.BadRequest(verdict.IsMalformed ? "PublicKeyMalformed" : "PublicKeyUnsupported", $"{field}: {verdict.Refusal}");
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

            return;
        }

        string algorithm;
        byte[] modulus;
        try
        {
            algorithm = SubjectPublicKeyInfoReader.ReadAlgorithm(der);
            if (algorithm != SubjectPublicKeyInfoReader.RsaEncryptionOid)
            {
                throw ServiceException.BadRequest("PublicKeyUnsupported", $"{field}: the host encryption key must be an RSA key of at least 2048 bits.");
            }

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
    }

    /// <summary>Lowercase hex SHA-256 of the DER SPKI: how hosts are looked up.</summary>
    public static string Thumbprint(ReadOnlySpan<byte> spki) => Convert.ToHexStringLower(SHA256.HashData(spki));

    /// <summary>
    /// Verifies <paramref name="signature"/> over <paramref name="message"/> with the scheme the shared rule gives the key
    /// (<see cref="HostSigningKeys.Judge"/>: ES256 on P-256, ES384 on P-384, RS256 on RSA ≥ 2048); false for any other key,
    /// curve, size or encoding. The key comes from <see cref="PublicKeyPool"/>.
    /// </summary>
    public static bool VerifySignature(ReadOnlySpan<byte> spki, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            byte[] der = spki.ToArray();
            if (HostSigningKeys.Judge(der).Signature is not { } scheme)
            {
                return false;
            }

            using var lease = PublicKeyPool.Shared.Lease(der);
            return scheme.Verify(lease.Key, message, signature);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
