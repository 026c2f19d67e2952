using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OpenHgs.Crypto;

/// <summary>A SHA-256 digest as a dictionary key.</summary>
public readonly record struct ContentHash(UInt128 High, UInt128 Low)
{
    public static ContentHash Of(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(data, digest);
        return From(digest);
    }

    public static ContentHash From(ReadOnlySpan<byte> digest) =>
        new(MemoryMarshal.Read<UInt128>(digest), MemoryMarshal.Read<UInt128>(digest[16..]));

    public void WriteTo(Span<byte> destination)
    {
        MemoryMarshal.Write(destination, High);
        MemoryMarshal.Write(destination[16..], Low);
    }
}

/// <summary>
/// Memoises a pure function of byte content, keyed by the content's SHA-256: a hit is the answer a fresh computation
/// would give. Bounded: when full it starts over, so hostile input can cost recomputation but never unbounded memory.
/// </summary>
/// <remarks>
/// Shared by the certificate checks and public-key pool (OpenHgs.Protocol, OpenHgs.Tpm) and the row-MAC verifications
/// (OpenHgs.Service), hence here. Hold one per owner (an instance field) where the answers depend on that owner's state,
/// such as its key.
/// </remarks>
/// <param name="capacity">Most entries held (at least one).</param>
/// <param name="evicted">
/// Called once for each entry dropped when the memo starts over, for values that hold resources (see
/// <see cref="PublicKeyPool"/>); null for plain values.
/// </param>
public sealed class BoundedMemo<TValue>(int capacity, Action<TValue>? evicted = null)
{
    private readonly int _capacity = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A memo holds at least one entry.");
    private readonly ConcurrentDictionary<ContentHash, TValue> _entries = new();

    /// <summary>Entries held now: at most the capacity (plus any additions racing the check).</summary>
    public int Count => _entries.Count;

    public bool TryGet(ContentHash key, out TValue value) => _entries.TryGetValue(key, out value!);

    public void Add(ContentHash key, TValue value) => GetOrAdd(key, value);

    /// <summary>The value already held for <paramref name="key"/>, else <paramref name="value"/>, which is then held.</summary>
    public TValue GetOrAdd(ContentHash key, TValue value)
    {
        if (_entries.Count >= _capacity)
        {
            StartOver();
        }

        return _entries.GetOrAdd(key, value);
    }

    /// <summary>
    /// Drops every entry now, as when the memo is full (values go to the eviction callback once each); safe alongside
    /// concurrent use. For the fuzz harness, whose inputs must each start from an empty memo (fuzz/README.md).
    /// </summary>
    public void Clear() => StartOver();

    private void StartOver()
    {
        if (evicted is null)
        {
            _entries.Clear();
            return;
        }

        // One by one, so that each dropped value is handed to the callback exactly once even when threads race here.
        foreach (var key in _entries.Keys)
        {
            if (_entries.TryRemove(key, out var value))
            {
                evicted(value);
            }
        }
    }
}
