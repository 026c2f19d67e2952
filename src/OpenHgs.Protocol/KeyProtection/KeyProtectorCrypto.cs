using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>The primitive operations of the key protector format, in one place.</summary>
internal static class KeyProtectorCrypto
{
    /// <summary>A fresh wrapping id: 16 random bytes, base64url (22 characters).</summary>
    public static string NewWrappingId() => Base64Url.Encode(RandomNumberGenerator.GetBytes(16));

    /// <summary>RS256 with any <see cref="RSA"/>, including HSM-backed ones (only SignHash is needed).</summary>
    public static byte[] SignRs256(RSA key, byte[] data) => key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    /// <summary>
    /// A guardian signature over <paramref name="data"/>: RS256 with an <see cref="RSA"/> key, ES256 (r‖s) with a P-256
    /// <see cref="ECDsa"/> key; either may be HSM-backed (only SignHash is needed).
    /// </summary>
    /// <exception cref="ArgumentException">Any other key (another curve, another algorithm).</exception>
    public static (string Algorithm, byte[] Value) SignGuardian(AsymmetricAlgorithm key, byte[] data) => key switch
    {
        RSA rsa => (KeyProtectorAlgorithms.RS256, SignRs256(rsa, data)),
        ECDsa ec when IsP256(ec) => (KeyProtectorAlgorithms.ES256, ec.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
        _ => throw new ArgumentException("A guardian signing key is RSA (RS256) or EC P-256 (ES256).", nameof(key)),
    };

    /// <summary>
    /// Whether <paramref name="key"/> is on P-256, by the named curve its public key names — not by its size: secp256k1
    /// and brainpoolP256r1 are 256-bit curves too, and ES256 means P-256 (design change 61). Explicit curve
    /// parameters name no curve and are not P-256 here. Works for key-store keys (only the public half is exported).
    /// </summary>
    private static bool IsP256(ECDsa key) =>
        SubjectPublicKeyInfoReader.ReadEcNamedCurve(key.ExportSubjectPublicKeyInfo()) == SubjectPublicKeyInfoReader.P256CurveOid;

    /// <summary>
    /// Verifies a JWS-style signature (<see cref="KeyProtectorAlgorithms.RS256"/> or <see cref="KeyProtectorAlgorithms.ES256"/>)
    /// under <paramref name="signer"/>'s key. False when <paramref name="algorithm"/> is not the one
    /// <paramref name="signer"/>'s key type makes (callers check that first, to report it); <paramref name="remember"/>
    /// memoises a success (see <see cref="CertificateChecks"/>).
    /// </summary>
    public static bool VerifySignature(ParsedCertificate signer, string algorithm, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, bool remember) =>
        KeyProtectorAlgorithms.SignatureAlgorithmFor(signer.KeyType) == algorithm
        && CertificateChecks.Verify(signer, data, signature, HashAlgorithmName.SHA256, EcdsaEncoding.P1363, remember);

    public static byte[] Hs256(ReadOnlySpan<byte> transportKey, ReadOnlySpan<byte> payload) => HMACSHA256.HashData(transportKey, payload);

    /// <summary>Encrypts the transport key to the RSA key of <paramref name="encryptionCertificate"/>.</summary>
    public static WrappedKey Wrap(byte[] encryptionCertificate, string algorithm, ReadOnlySpan<byte> transportKey)
    {
        var certificate = CertificateChecks.TryParse(encryptionCertificate)
            ?? throw new KeyProtectorException(KeyProtectorError.Malformed, "An encryption certificate does not parse.");
        if (!certificate.HasAcceptedRsaKey)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, "An encryption certificate's key is not RSA of an accepted size.");
        }

        using var lease = certificate.LeaseKey();
        return new WrappedKey(algorithm, lease.Rsa.Encrypt(transportKey, KeyProtectorAlgorithms.GetPadding(algorithm)));
    }

    /// <summary>
    /// Decrypts a wrapped transport key with <paramref name="decryptionKey"/> (any <see cref="RSA"/>, including
    /// HSM-backed ones). Every decryption failure, and a plaintext that is not 32 bytes, is
    /// <see cref="KeyProtectorError.TransportKeyInvalid"/> with one message, so callers cannot learn why.
    /// The caller zeroes the result.
    /// </summary>
    public static byte[] Unwrap(RSA decryptionKey, WrappedKey wrappedKey)
    {
        byte[] transportKey;
        try
        {
            transportKey = decryptionKey.Decrypt(wrappedKey.Value, KeyProtectorAlgorithms.GetPadding(wrappedKey.Algorithm));
        }
        catch (CryptographicException ex)
        {
            throw new KeyProtectorException(KeyProtectorError.TransportKeyInvalid, "The wrapped transport key does not decrypt with this key.", ex);
        }

        if (transportKey.Length != KeyProtectorVerifier.TransportKeyBytes)
        {
            CryptographicOperations.ZeroMemory(transportKey);
            throw new KeyProtectorException(KeyProtectorError.TransportKeyInvalid, "The wrapped transport key does not decrypt with this key.");
        }

        return transportKey;
    }
}
