using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>
/// Server-side TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6): binds a credential to an EK
/// and the Name of the key to activate, so that only TPM2_ActivateCredential on that TPM, with that key loaded,
/// recovers it. Supports RSA EKs (seed encrypted with RSA-OAEP, label "IDENTITY\0").
/// </summary>
public static class CredentialMaker
{
    /// <summary>
    /// Makes the credential blob and encrypted seed for <paramref name="credential"/> (at most the EK nameAlg
    /// digest size, typically a 32-byte secret) bound to <paramref name="objectName"/> (the AK's Name).
    /// </summary>
    public static IdObject MakeCredential(TpmtPublic endorsementKey, ReadOnlySpan<byte> credential, ReadOnlySpan<byte> objectName)
    {
        ArgumentNullException.ThrowIfNull(endorsementKey);
        var rsa = endorsementKey.Rsa ?? throw new NotSupportedException("Only RSA endorsement keys are supported.");
        var nameAlg = endorsementKey.NameAlg;
        var digestSize = nameAlg.DigestSize();
        if (credential.IsEmpty || credential.Length > digestSize)
        {
            throw new ArgumentException($"The credential must be 1..{digestSize} bytes.", nameof(credential));
        }
        if (rsa.Symmetric.Algorithm != TpmAlgorithm.Aes || rsa.Symmetric.Mode != TpmAlgorithm.Cfb)
        {
            throw new NotSupportedException("The EK must be a storage key with AES-CFB symmetric parameters.");
        }

        var seed = RandomNumberGenerator.GetBytes(digestSize);
        try
        {
            var secret = RsaOaep.Encrypt(endorsementKey, seed, nameAlg, "IDENTITY\0"u8);

            var symmetricKey = TpmKdf.KdfA(nameAlg, seed, "STORAGE", objectName, [], rsa.Symmetric.KeyBits);
            var credentialBytes = credential.ToArray();
            var plaintext = TpmWriter.Marshal(w => w.WriteSized(credentialBytes));     // TPM2B_DIGEST
            var encIdentity = AesCfb.Encrypt(symmetricKey, plaintext);

            var hmacKey = TpmKdf.KdfA(nameAlg, seed, "INTEGRITY", [], [], digestSize * 8);
            byte[] hmacInput = [.. encIdentity, .. objectName];
            var outerHmac = CryptographicOperations.HmacData(nameAlg.ToHashAlgorithmName(), hmacKey, hmacInput);
            var blob = TpmWriter.Marshal(w => w.WriteSized(outerHmac).Write(encIdentity));
            CryptographicOperations.ZeroMemory(symmetricKey);
            CryptographicOperations.ZeroMemory(hmacKey);
            CryptographicOperations.ZeroMemory(credentialBytes);
            CryptographicOperations.ZeroMemory(plaintext);
            return new IdObject(blob, secret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }
}

/// <summary>AES in full-block CFB mode with a zero IV, as TPM parameter/credential encryption uses it.</summary>
internal static class AesCfb
{
    public static byte[] Encrypt(byte[] key, ReadOnlySpan<byte> plaintext)
    {
        using var aes = Aes.Create();
        aes.Key = key;
        var output = new byte[plaintext.Length];
        var feedback = new byte[16];
        for (var offset = 0; offset < plaintext.Length; offset += 16)
        {
            var keystream = aes.EncryptEcb(feedback, PaddingMode.None);
            var n = Math.Min(16, plaintext.Length - offset);
            for (var i = 0; i < n; i++)
            {
                output[offset + i] = (byte)(plaintext[offset + i] ^ keystream[i]);
            }
            if (n == 16)
            {
                output.AsSpan(offset, 16).CopyTo(feedback);
            }
        }
        return output;
    }
}
