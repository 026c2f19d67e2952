using System.Security.Cryptography;

namespace OpenHgs.Crypto;

/// <summary>
/// Imported public keys, kept for reuse and keyed by their DER SubjectPublicKeyInfo (RSA or EC). Importing a public key
/// into OpenSSL 3 costs ≈0.13 ms (decoder locks), more than the RSA-OAEP encryption (≈25 µs) or ECDSA P-256
/// verification (≈72 µs) it is imported for, and the same keys recur: guardian certificates on every release, a host's
/// signing, attestation and encryption keys on each of its attestations and releases. Public keys only.
/// </summary>
/// <remarks>
/// <para>A .NET <see cref="RSA"/> or <see cref="ECDsa"/> instance is not documented as safe for concurrent use, so a
/// lease is exclusive: each key keeps a few idle instances, and a lease takes one or imports another.</para>
/// <para>Bounded like <see cref="BoundedMemo{TValue}"/> (which holds the keys): at most <c>capacity</c> distinct keys,
/// each with at most <c>idlePerKey</c> idle instances. When full it starts over and disposes the idle instances it
/// drops; instances still leased are disposed when given back. So a fleet larger than the capacity, or hostile input,
/// costs re-imports but never unbounded memory. A key that does not import throws and leaves nothing behind.</para>
/// </remarks>
public sealed class PublicKeyPool
{
    private readonly BoundedMemo<PooledKey> _keys;
    private readonly int _idlePerKey;

    public PublicKeyPool(int capacity, int idlePerKey)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(idlePerKey, 1);
        _keys = new(capacity, static key => key.Retire());
        _idlePerKey = idlePerKey;
    }

    /// <summary>
    /// The process-wide pool: 4096 keys (≈5 KB each with one idle instance, RSA-2048 or P-256: ≈20 MB when full), and
    /// up to two idle instances per core for each key, as many as can be busy at once on a hot key.
    /// </summary>
    public static PublicKeyPool Shared { get; } = new(4096, Math.Max(2, Environment.ProcessorCount * 2));

    /// <summary>Distinct keys held now.</summary>
    public int Count => _keys.Count;

    /// <summary>
    /// Drops every key, as when the pool is full: idle instances are disposed now, leased ones when given back. Only for
    /// the fuzz harness (a hit skips the import path, so each input must start from an empty pool); internal so that no
    /// product code can empty <see cref="Shared"/>.
    /// </summary>
    internal void Clear() => _keys.Clear();

    /// <summary>An imported instance of the key, the caller's alone until the lease is disposed.</summary>
    /// <exception cref="CryptographicException">Not a DER SubjectPublicKeyInfo of an RSA or EC key that imports.</exception>
    public PublicKeyLease Lease(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        var hash = ContentHash.Of(subjectPublicKeyInfo);
        if (_keys.TryGet(hash, out var pooled) && pooled.Holds(subjectPublicKeyInfo))
        {
            return new PublicKeyLease(pooled, pooled.TryTake() ?? Import(pooled.SubjectPublicKeyInfo));
        }

        // Imported before it is pooled: a key that does not import throws here and is never remembered.
        byte[] der = subjectPublicKeyInfo.ToArray();
        var key = Import(der);
        pooled = _keys.GetOrAdd(hash, new PooledKey(der, _idlePerKey));

        // A different key under the same hash (a SHA-256 collision) is served, but not pooled.
        return new PublicKeyLease(pooled.Holds(der) ? pooled : null, key);
    }

    private static AsymmetricAlgorithm Import(byte[] subjectPublicKeyInfo)
    {
        // The algorithm is read from the DER (strict, one structure) rather than found by trial imports.
        AsymmetricAlgorithm key = SubjectPublicKeyInfoReader.ReadAlgorithm(subjectPublicKeyInfo) switch
        {
            SubjectPublicKeyInfoReader.RsaEncryptionOid => RSA.Create(),
            SubjectPublicKeyInfoReader.EcPublicKeyOid => ECDsa.Create(),
            _ => throw new CryptographicException("The SubjectPublicKeyInfo is not an RSA or EC key."),
        };
        try
        {
            key.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}

/// <summary>An imported public key lent by a <see cref="PublicKeyPool"/>; dispose to give it back.</summary>
public sealed class PublicKeyLease : IDisposable
{
    private readonly PooledKey? _owner;
    private AsymmetricAlgorithm? _key;

    internal PublicKeyLease(PooledKey? owner, AsymmetricAlgorithm key)
    {
        _owner = owner;
        _key = key;
    }

    /// <summary>The key: <see cref="RSA"/> or <see cref="ECDsa"/>, as the SubjectPublicKeyInfo says.</summary>
    public AsymmetricAlgorithm Key => _key ?? throw new ObjectDisposedException(nameof(PublicKeyLease));

    /// <exception cref="CryptographicException">The key is not RSA (thrown like a failed import, which callers already handle).</exception>
    public RSA Rsa => Key as RSA ?? throw new CryptographicException("The public key is not an RSA key.");

    /// <exception cref="CryptographicException">The key is not EC.</exception>
    public ECDsa Ecdsa => Key as ECDsa ?? throw new CryptographicException("The public key is not an EC key.");

    public void Dispose()
    {
        // Given back once only: a second return would hand one instance to two callers.
        var key = Interlocked.Exchange(ref _key, null);
        if (key is null)
        {
            return;
        }

        if (_owner is null)
        {
            key.Dispose();
        }
        else
        {
            _owner.Return(key);
        }
    }
}

/// <summary>One key of a <see cref="PublicKeyPool"/>: its DER and its idle imported instances.</summary>
internal sealed class PooledKey(byte[] subjectPublicKeyInfo, int maxIdle)
{
    private readonly Lock _gate = new();
    private readonly Stack<AsymmetricAlgorithm> _idle = new();
    private bool _retired;

    public byte[] SubjectPublicKeyInfo => subjectPublicKeyInfo;

    public bool Holds(ReadOnlySpan<byte> der) => der.SequenceEqual(subjectPublicKeyInfo);

    public AsymmetricAlgorithm? TryTake()
    {
        lock (_gate)
        {
            return _idle.TryPop(out var key) ? key : null;
        }
    }

    public void Return(AsymmetricAlgorithm key)
    {
        lock (_gate)
        {
            if (!_retired && _idle.Count < maxIdle)
            {
                _idle.Push(key);
                return;
            }
        }

        key.Dispose();
    }

    /// <summary>Dropped from the pool: dispose the idle instances now, and the leased ones as they come back.</summary>
    public void Retire()
    {
        AsymmetricAlgorithm[] idle;
        lock (_gate)
        {
            _retired = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        foreach (var key in idle)
        {
            key.Dispose();
        }
    }
}
