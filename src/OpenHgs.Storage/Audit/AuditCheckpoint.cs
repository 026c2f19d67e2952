using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OpenHgs.Storage;

/// <summary>
/// A signed statement "the audit chain had <paramref name="Sequence"/> records and record <paramref name="Sequence"/>'s hash
/// was <paramref name="Hash"/> at <paramref name="SignedAt"/>", made with the fabric's checkpoint key in the key store.
/// Whoever can write the database can recompute the hash chain, but not these signatures: a checkpoint naming a record
/// the chain no longer has, or a different hash for it, proves the trail was truncated or rewritten.
/// </summary>
/// <param name="KeyId">SHA-256 of the signing key's SubjectPublicKeyInfo (informational: verifiers use the key store's key).</param>
/// <param name="Signature">ECDSA P-256 over SHA-256 of <see cref="AuditCheckpointFormat.Message"/>, IEEE P1363 r‖s.</param>
public sealed record AuditCheckpoint(long Sequence, byte[] Hash, DateTimeOffset SignedAt, byte[] KeyId, byte[] Signature);

/// <summary>The canonical, domain-separated encoding a checkpoint signature covers.</summary>
public static class AuditCheckpointFormat
{
    /// <summary>Length of a record hash and of a key identity (SHA-256).</summary>
    public const int HashLength = 32;

    /// <summary>Separates checkpoint signatures from every other signature the fabric's keys make.</summary>
    public static ReadOnlySpan<byte> Domain => "OpenHGS-audit-checkpoint-v1\0"u8;

    /// <summary>
    /// <c>Domain ‖ keyId (32) ‖ sequence (int64 BE) ‖ hash (32) ‖ signedAt (Unix ms, int64 BE)</c>. The key identity stands
    /// for the fabric (each fabric has its own checkpoint key; the fabric name lives in the database, which is not trusted).
    /// </summary>
    public static byte[] Message(ReadOnlySpan<byte> keyId, long sequence, ReadOnlySpan<byte> hash, DateTimeOffset signedAt)
    {
        if (keyId.Length != HashLength || hash.Length != HashLength)
        {
            throw new ArgumentException("A checkpoint names a 32-byte key identity and a 32-byte record hash.");
        }

        var message = new byte[Domain.Length + HashLength + 8 + HashLength + 8];
        var span = message.AsSpan();
        Domain.CopyTo(span);
        span = span[Domain.Length..];
        keyId.CopyTo(span);
        BinaryPrimitives.WriteInt64BigEndian(span[HashLength..], sequence);
        hash.CopyTo(span[(HashLength + 8)..]);
        BinaryPrimitives.WriteInt64BigEndian(span[(HashLength + 8 + HashLength)..], signedAt.ToUnixTimeMilliseconds());
        return message;
    }

    /// <summary>The SHA-256 digest the key store signs.</summary>
    public static byte[] Digest(ReadOnlySpan<byte> keyId, long sequence, ReadOnlySpan<byte> hash, DateTimeOffset signedAt) =>
        SHA256.HashData(Message(keyId, sequence, hash, signedAt));

    /// <summary>The key identity: SHA-256 of the DER SubjectPublicKeyInfo.</summary>
    public static byte[] KeyId(ReadOnlySpan<byte> subjectPublicKeyInfo) => SHA256.HashData(subjectPublicKeyInfo);

    /// <summary>
    /// True when <paramref name="checkpoint"/> was signed by <paramref name="publicKey"/> (whose identity is
    /// <paramref name="keyId"/>) over exactly its fields; malformed rows (wrong lengths) are simply not verified.
    /// </summary>
    public static bool Verify(AuditCheckpoint checkpoint, ECDsa publicKey, ReadOnlySpan<byte> keyId)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(publicKey);
        if (checkpoint.Hash.Length != HashLength || keyId.Length != HashLength || !checkpoint.KeyId.AsSpan().SequenceEqual(keyId))
        {
            return false;
        }

        byte[] digest = Digest(keyId, checkpoint.Sequence, checkpoint.Hash, checkpoint.SignedAt);
        return publicKey.VerifyHash(digest, checkpoint.Signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
