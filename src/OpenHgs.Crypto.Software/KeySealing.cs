using System.Security.Cryptography;
using System.Text;

namespace OpenHgs.Crypto.Software;

/// <summary>
/// Seals private keys at rest with AES-256-GCM under a 256-bit key taken from a key file (created 0600 on
/// first use) or derived from a passphrase (PBKDF2-SHA256, 600,000 iterations, per-store salt).
/// The associated data binds each sealed blob to its label, so blobs cannot be swapped between keys.
/// </summary>
internal sealed class KeySealing : IDisposable
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    private KeySealing(byte[] key) => _key = key;

    public static KeySealing FromKeyFile(string path)
    {
        if (!File.Exists(path))
        {
            byte[] fresh = RandomNumberGenerator.GetBytes(32);
            OwnerOnlyFile.CreateNew(path, fresh);
            return new KeySealing(fresh);
        }

        byte[] key = File.ReadAllBytes(path);
        if (key.Length != 32)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new KeyStoreConfigurationException("key-file", $"'{path}' must hold exactly 32 bytes.");
        }

        return new KeySealing(key);
    }

    public static KeySealing FromPassphrase(string passphrase, string directory)
    {
        Directory.CreateDirectory(directory);
        string saltPath = Path.Combine(directory, "passphrase.salt");
        if (!File.Exists(saltPath))
        {
            File.WriteAllBytes(saltPath, RandomNumberGenerator.GetBytes(16));
        }

        byte[] salt = File.ReadAllBytes(saltPath);
        return new KeySealing(Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, 600_000, HashAlgorithmName.SHA256, 32));
    }

    public byte[] Seal(string label, ReadOnlySpan<byte> plaintext)
    {
        byte[] output = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), Aad(label));
        return output;
    }

    /// <summary>Opens a sealed blob; the caller zeroes the result.</summary>
    public byte[] Open(string label, ReadOnlySpan<byte> sealedBlob)
    {
        if (sealedBlob.Length < NonceSize + TagSize)
        {
            throw new KeyStoreUnavailableException($"Sealed key '{label}' is truncated.");
        }

        byte[] plaintext = new byte[sealedBlob.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(sealedBlob[..NonceSize], sealedBlob[NonceSize..^TagSize], sealedBlob[^TagSize..], plaintext, Aad(label));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new KeyStoreUnavailableException($"Sealed key '{label}' does not open with this key file or passphrase (wrong key, or the file was altered).", ex);
        }

        return plaintext;
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_key);

    private static byte[] Aad(string label) => Encoding.UTF8.GetBytes("OpenHGS-software-key-v1:" + label);
}
