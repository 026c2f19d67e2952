using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OpenHgs.Crypto.Software;

/// <summary>Why a sealed key record does not open: the <see cref="KeyStoreUnavailableException.Reason"/> the software store gives.</summary>
public static class SealedKeyErrors
{
    /// <summary>The record's label, kind, algorithm, usage or public key is not what was sealed with the blob (edited, or a blob swapped in from another record).</summary>
    public const string RecordMismatch = "SealedKeyRecordMismatch";

    /// <summary>The blob was sealed under another key file or passphrase.</summary>
    public const string WrongSealingKey = "SealedKeyWrongSealingKey";

    /// <summary>A format-1 blob (which names no sealing key) does not open: wrong key file or passphrase, or altered.</summary>
    public const string DoesNotOpen = "SealedKeyDoesNotOpen";

    /// <summary>The blob is shorter than a nonce and a tag.</summary>
    public const string Truncated = "SealedKeyTruncated";

    /// <summary>The record names a sealed-key format this version does not know.</summary>
    public const string UnsupportedFormat = "SealedKeyUnsupportedFormat";
}

/// <summary>
/// Everything a sealed blob is bound to (format 2): what kind of record it is, its label, algorithm, usage and public key.
/// Changing any of them in the file, or moving the blob to another record, makes it fail to open.
/// </summary>
internal sealed record SealedRecord(string Kind, string Label, string Algorithm, string Usage, byte[] PublicKey)
{
    public const string KeyPairKind = "key-pair";
    public const string MacKeyKind = "mac-key";

    public static SealedRecord ForKeyPair(string label, KeyAlgorithm algorithm, KeyUsage usage, byte[] subjectPublicKeyInfo) =>
        new(KeyPairKind, label, algorithm.ToString(), ((int)usage).ToString(CultureInfo.InvariantCulture), subjectPublicKeyInfo);

    public static SealedRecord ForMacKey(string label) => new(MacKeyKind, label, "HmacSha256", "mac", []);

    /// <summary>The label format 1 bound (it bound nothing else): MAC keys were sealed under <c>mac:LABEL</c>.</summary>
    public string FormatOneLabel => Kind == MacKeyKind ? "mac:" + Label : Label;
}

/// <summary>
/// Seals private keys at rest with AES-256-GCM under a 256-bit key taken from a key file (created 0600 on first use;
/// refused when group or others may access it) or derived from a passphrase (PBKDF2-SHA256, 600,000 iterations,
/// per-store salt).
/// </summary>
/// <remarks>
/// Format 2 (written by this version): the associated data is a domain tag and, length-prefixed, every field of the
/// record (<see cref="SealedRecord"/>), so a blob cannot be swapped between records and a record's usage cannot be
/// widened; the record also names the sealing key (<see cref="KeyId"/>, an HMAC of a constant under it, revealing
/// nothing about it), so a wrong key file is told apart from an altered record. Format 1 (label only) still opens,
/// read-only: records are never rewritten, so a format-1 record stays format 1 until its key is re-created.
/// </remarks>
internal sealed class KeySealing : IDisposable
{
    public const int FormatOne = 1;
    public const int CurrentFormat = 2;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] FormatTwoDomain = "OpenHGS-sealed-key-v2\0"u8.ToArray();
    private readonly byte[] _key;

    private KeySealing(byte[] key)
    {
        _key = key;
        KeyId = HMACSHA256.HashData(key, "OpenHGS-sealing-key-id-v1"u8)[..8];
    }

    /// <summary>Names this sealing key in format-2 records (8 bytes of HMAC-SHA256 of a constant under the key).</summary>
    public byte[] KeyId { get; }

    /// <exception cref="KeyStoreConfigurationException"><c>key-file</c>: group or others may access it, or it is not 32 bytes.</exception>
    public static KeySealing FromKeyFile(string path)
    {
        if (!File.Exists(path))
        {
            byte[] fresh = RandomNumberGenerator.GetBytes(32);
            OwnerOnlyFile.CreateNew(path, fresh);
            return new KeySealing(fresh);
        }

        if (OwnerOnlyFile.AccessProblem(path) is { } problem)
        {
            throw new KeyStoreConfigurationException("key-file", "the sealing key file " + problem);
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
        OwnerOnlyFile.CreateDirectory(directory);
        string saltPath = Path.Combine(directory, "passphrase.salt");
        if (!File.Exists(saltPath))
        {
            OwnerOnlyFile.CreateNew(saltPath, RandomNumberGenerator.GetBytes(16));
        }

        byte[] salt = File.ReadAllBytes(saltPath);
        return new KeySealing(Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, 600_000, HashAlgorithmName.SHA256, 32));
    }

    /// <summary>Seals <paramref name="plaintext"/> in the current format, bound to <paramref name="record"/>.</summary>
    public byte[] Seal(SealedRecord record, ReadOnlySpan<byte> plaintext) => Seal(record, plaintext, RandomNumberGenerator.GetBytes(NonceSize));

    /// <summary>Opens a sealed blob of the record's <paramref name="format"/>; the caller zeroes the result.</summary>
    /// <param name="record">The record as the file states it: it must be what was sealed.</param>
    /// <param name="format">The record's format (1 when the file names none).</param>
    /// <param name="keyId">The sealing key the record names (format 2).</param>
    /// <param name="sealedBlob">Nonce, ciphertext and tag.</param>
    /// <exception cref="KeyStoreUnavailableException">It does not open; <see cref="KeyStoreUnavailableException.Reason"/> is one of <see cref="SealedKeyErrors"/>.</exception>
    public byte[] Open(SealedRecord record, int format, byte[]? keyId, ReadOnlySpan<byte> sealedBlob)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (format is not (FormatOne or CurrentFormat))
        {
            throw Failure(SealedKeyErrors.UnsupportedFormat, $"Sealed key '{record.Label}' is in format {format}; this version reads formats 1 and 2.");
        }

        if (sealedBlob.Length < NonceSize + TagSize)
        {
            throw Failure(SealedKeyErrors.Truncated, $"Sealed key '{record.Label}' is truncated.");
        }

        byte[] plaintext = new byte[sealedBlob.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(sealedBlob[..NonceSize], sealedBlob[NonceSize..^TagSize], sealedBlob[^TagSize..], plaintext,
                format == FormatOne ? FormatOneAad(record.FormatOneLabel) : FormatTwoAad(record));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw format == FormatOne
                ? Failure(SealedKeyErrors.DoesNotOpen, $"Sealed key '{record.Label}' (format 1) does not open with this key file or passphrase (wrong key, or the file was altered).", ex)
                : keyId is null || !CryptographicOperations.FixedTimeEquals(keyId, KeyId)
                    ? Failure(SealedKeyErrors.WrongSealingKey, $"Sealed key '{record.Label}' was sealed under another key file or passphrase.", ex)
                    : Failure(SealedKeyErrors.RecordMismatch,
                        $"Sealed key '{record.Label}' does not belong to its record: its label, usage, algorithm or public key was changed, or the sealed blob was moved from another record.", ex);
        }

        return plaintext;
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_key);

    /// <summary>Format-2 sealing with a given nonce (known-answer tests); never reuse a nonce under one key.</summary>
    internal byte[] Seal(SealedRecord record, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> nonce)
    {
        ArgumentNullException.ThrowIfNull(record);
        byte[] output = new byte[NonceSize + plaintext.Length + TagSize];
        nonce.CopyTo(output);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(output.AsSpan(0, NonceSize), plaintext, output.AsSpan(NonceSize, plaintext.Length), output.AsSpan(NonceSize + plaintext.Length), FormatTwoAad(record));
        return output;
    }

    /// <summary>For tests: a sealing over a given key (the key is copied; the caller keeps its own).</summary>
    internal static KeySealing FromKey(ReadOnlySpan<byte> key) => new(key.ToArray());

    /// <summary>Format 2: domain ‖ for each of kind, label, algorithm, usage, public key: 4-byte big-endian length ‖ bytes.</summary>
    internal static byte[] FormatTwoAad(SealedRecord record)
    {
        using var buffer = new MemoryStream();
        buffer.Write(FormatTwoDomain);
        Span<byte> length = stackalloc byte[4];
        foreach (byte[] field in new[] { Encoding.UTF8.GetBytes(record.Kind), Encoding.UTF8.GetBytes(record.Label), Encoding.UTF8.GetBytes(record.Algorithm), Encoding.UTF8.GetBytes(record.Usage), record.PublicKey })
        {
            BinaryPrimitives.WriteInt32BigEndian(length, field.Length);
            buffer.Write(length);
            buffer.Write(field);
        }

        return buffer.ToArray();
    }

    private static byte[] FormatOneAad(string label) => Encoding.UTF8.GetBytes("OpenHGS-software-key-v1:" + label);

    private static KeyStoreUnavailableException Failure(string reason, string message, Exception? inner = null) => new($"{reason}: {message}", inner, reason);
}
