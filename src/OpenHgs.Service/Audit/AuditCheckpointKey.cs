using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>
/// The fabric's audit checkpoint key: an ECDSA P-256 signing key inside the key store, found by its label.
/// </summary>
/// <remarks>
/// Security contract: the public key that checkpoints are verified with comes from the key store (read when this is
/// opened), never from the database, so whoever can write the database cannot make a forged checkpoint verify. The
/// private key never leaves the store; every node of a fabric holds the same key (as it holds the fabric keys).
/// </remarks>
public sealed class AuditCheckpointKey : IDisposable
{
    /// <summary>The key's label in the store.</summary>
    public const string Label = "openhgs-audit-checkpoint";

    private readonly IKeyStore _store;
    private readonly ECDsa _public;
    private readonly Lock _verifying = new(); // an ECDsa instance is not documented as safe for concurrent use

    private AuditCheckpointKey(IKeyStore store, StoredKey key)
    {
        if (key.Algorithm != KeyAlgorithm.EcP256 || !key.Usage.HasFlag(KeyUsage.Sign))
        {
            throw new KeyStoreOperationException($"Key '{Label}' is {key.Algorithm} ({key.Usage}); the audit checkpoint key must be an ECDSA P-256 signing key.");
        }

        _store = store;
        SubjectPublicKeyInfo = key.SubjectPublicKeyInfo;
        KeyId = AuditCheckpointFormat.KeyId(key.SubjectPublicKeyInfo);
        _public = ECDsa.Create();
        _public.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
    }

    /// <summary>The public key (DER SubjectPublicKeyInfo), as the key store reports it.</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>SHA-256 of <see cref="SubjectPublicKeyInfo"/>: the key's identity, signed into every checkpoint.</summary>
    public byte[] KeyId { get; }

    /// <summary>The store's checkpoint key, or null when the store does not hold one.</summary>
    public static AuditCheckpointKey? Find(IKeyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.FindKey(Label) is { } key ? new AuditCheckpointKey(store, key) : null;
    }

    /// <summary>Generates the checkpoint key inside the store (non-extractable, like every store key).</summary>
    public static AuditCheckpointKey Create(IKeyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new AuditCheckpointKey(store, store.CreateKey(new CreateKeyRequest(Label, KeyAlgorithm.EcP256, KeyUsage.Sign)));
    }

    /// <summary>Signs "the chain's record <paramref name="sequence"/> has hash <paramref name="hash"/>" inside the key store.</summary>
    public AuditCheckpoint Sign(long sequence, byte[] hash, DateTimeOffset signedAt)
    {
        ArgumentNullException.ThrowIfNull(hash);
        byte[] digest = AuditCheckpointFormat.Digest(KeyId, sequence, hash, signedAt);
        byte[] signature = _store.SignHash(new SignHashRequest(Label, digest, SignatureScheme.EcdsaSha256));
        return new AuditCheckpoint(sequence, hash, signedAt, KeyId, signature);
    }

    /// <summary>True when this key signed exactly <paramref name="checkpoint"/>.</summary>
    public bool Verifies(AuditCheckpoint checkpoint)
    {
        lock (_verifying)
        {
            return AuditCheckpointFormat.Verify(checkpoint, _public, KeyId);
        }
    }

    public void Dispose() => _public.Dispose();
}
