using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// MACs database rows with the fabric's row-MAC key in the key store (<see cref="IRecordAuthenticator"/>): the
/// database holds rows and MACs, never the key, so a database writer cannot forge a row the service will use.
/// </summary>
/// <remarks>
/// <para>
/// Verifications are memoised per instance (design change 58): a (key, exact row bytes, MAC) triple that verified once
/// is remembered — by the SHA-256 of the key's check value, the MAC and the row's SHA-256 — so reading the same row
/// again costs no key store call. Only successes are remembered; a row or MAC that differs in one bit misses and is
/// checked by the key store, so a tampered row is refused exactly as without the memo. The memo is bounded
/// (<see cref="DefaultVerificationMemoCapacity"/>; it starts over when full) and belongs to this instance: nothing is
/// shared across the process. Computing a MAC (writing a row) always asks the key store.
/// </para>
/// <para>
/// A bulk read (<see cref="BulkRowRead"/>: the row integrity report, which reads every row) is answered from the memo
/// where it can but adds nothing to it (design change 81): at 100,000 hosts it would overflow the memo on every pass
/// and evict the rows every request reads, so that an admin watching the dashboard slowed attestation down.
/// </para>
/// <para>
/// The key's identity is its check value (<see cref="BackupFormat.KeyCheck"/>: the key's HMAC of a fixed string),
/// taken at the first verification. A row that fails its real check makes the check value be taken again (at most once
/// a second); if the key was replaced under the running service, everything remembered is dropped then. Memoise here only: the key store
/// and its decorators (metrics, cluster) stay call-for-call, so the metrics count real HSM operations.
/// </para>
/// </remarks>
public sealed class KeyStoreRowAuthenticator : IRowAuthenticator
{
    /// <summary>The label of the fabric's row-MAC key; every node (every HSM cluster member) must hold the same key.</summary>
    public const string MacKeyLabel = "openhgs-row-mac";

    /// <summary>
    /// Verified rows remembered before the memo starts over: far above the rows hot at once (settings, and the host and
    /// AK rows of the hosts attesting), at about 100 bytes each at most a few MB.
    /// </summary>
    public const int DefaultVerificationMemoCapacity = 65_536;

    private const int MacBytes = 32;

    private static readonly TimeSpan KeyRecheckInterval = TimeSpan.FromSeconds(1);

    private readonly IRecordAuthenticator _authenticator;
    private readonly int _memoCapacity;
    private volatile Generation? _generation;
    private long _keyRecheckedAt = long.MinValue / 2;

    /// <param name="store">The key store holding (or about to hold) <see cref="MacKeyLabel"/>.</param>
    /// <param name="verificationMemoCapacity">How many verified rows to remember before starting over.</param>
    public KeyStoreRowAuthenticator(IKeyStore store, int verificationMemoCapacity = DefaultVerificationMemoCapacity)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(verificationMemoCapacity);
        _authenticator = store.AsRecordAuthenticator() ?? throw new KeyStoreConfigurationException("keyStore",
            $"the {store.Kind} key store cannot hold an HMAC key, which OpenHGS needs to protect its database rows (docs/security.md).");
        _memoCapacity = verificationMemoCapacity;
    }

    public byte[] Compute(byte[] canonicalRow) => _authenticator.ComputeMac(MacKeyLabel, canonicalRow);

    public bool Verify(byte[] canonicalRow, byte[] mac)
    {
        ArgumentNullException.ThrowIfNull(canonicalRow);
        ArgumentNullException.ThrowIfNull(mac);
        if (mac.Length != MacBytes)
        {
            return false;
        }

        var generation = _generation ?? Renew(null);
        var entry = MemoKey(generation.KeyCheck, canonicalRow, mac);
        if (generation.Verified.TryGet(entry, out _))
        {
            return true;
        }

        if (CryptographicOperations.FixedTimeEquals(mac, Compute(canonicalRow)))
        {
            // A bulk read (the row integrity report) would fill the memo with rows no request asks for and evict those
            // every request reads (design change 81): it uses what is remembered but adds nothing.
            if (!BulkRowRead.Active)
            {
                generation.Verified.Add(entry, true);
            }

            return true;
        }

        RecheckKeyAfterFailure(generation);
        return false;
    }

    /// <summary>
    /// After a row failed its real check — tampering, or a key replaced under the running service — asks whether the key
    /// changed, at most once per <see cref="KeyRecheckInterval"/> (so that a database full of forged rows costs at most
    /// one extra key store call a second). When the key store cannot say, nothing remembered is kept.
    /// </summary>
    private void RecheckKeyAfterFailure(Generation generation)
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _keyRecheckedAt);
        if (now - last < (long)KeyRecheckInterval.TotalMilliseconds || Interlocked.CompareExchange(ref _keyRecheckedAt, now, last) != last)
        {
            return;
        }

        try
        {
            Renew(generation);
        }
        catch (Exception ex) when (ex is KeyStoreUnavailableException or KeyNotFoundInStoreException or KeyStoreOperationException)
        {
            Interlocked.CompareExchange(ref _generation, null, generation);
        }
    }

    /// <summary>
    /// The generation for the key the store holds now: <paramref name="seen"/> when its check value is unchanged, else a
    /// new, empty one (nothing remembered under another key survives).
    /// </summary>
    private Generation Renew(Generation? seen)
    {
        byte[] keyCheck = BackupFormat.KeyCheck(this);
        if (seen is not null && CryptographicOperations.FixedTimeEquals(seen.KeyCheck, keyCheck))
        {
            return seen;
        }

        var fresh = new Generation(keyCheck, new BoundedMemo<bool>(_memoCapacity));
        // Lost a race: use the winner's (a generation dropped meanwhile leaves ours uninstalled, which only forgets).
        var current = Interlocked.CompareExchange(ref _generation, fresh, seen);
        return current == seen ? fresh : current ?? fresh;
    }

    /// <summary>SHA-256(key check value ‖ MAC ‖ SHA-256(row)): every input that decides the answer, fixed-length first.</summary>
    private static ContentHash MemoKey(byte[] keyCheck, byte[] canonicalRow, byte[] mac)
    {
        Span<byte> buffer = stackalloc byte[MacBytes + MacBytes + SHA256.HashSizeInBytes];
        keyCheck.AsSpan(0, MacBytes).CopyTo(buffer);
        mac.CopyTo(buffer[MacBytes..]);
        SHA256.HashData(canonicalRow, buffer[(2 * MacBytes)..]);
        return ContentHash.Of(buffer);
    }

    /// <summary>The verifications remembered under one key, named by its check value.</summary>
    private sealed record Generation(byte[] KeyCheck, BoundedMemo<bool> Verified);

    /// <summary>
    /// Makes sure the key store holds the row-MAC key before the database is migrated or used. The key is created only
    /// for a database that has no row MACs yet (new, or from before them: schema below <see cref="SqlDialect.RowMacVersion"/>);
    /// for a database whose rows are already MACed, a store without the key is a configuration error (the key must
    /// be cloned from the other nodes' HSMs), never a reason to make a new key.
    /// </summary>
    /// <returns>True when the key was created now.</returns>
    public static async Task<bool> EnsureKeyAsync(IKeyStore store, IHgsDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(database);
        var authenticator = store.AsRecordAuthenticator() ?? throw new KeyStoreConfigurationException("keyStore",
            $"the {store.Kind} key store cannot hold an HMAC key, which OpenHGS needs to protect its database rows (docs/security.md).");
        if (authenticator.HasMacKey(MacKeyLabel))
        {
            return false;
        }

        if (await database.GetSchemaVersionAsync(cancellationToken).ConfigureAwait(false) >= SqlDialect.RowMacVersion)
        {
            throw new KeyStoreConfigurationException("keyStore",
                $"the key store has no row-MAC key '{MacKeyLabel}', but the database's rows are MACed with one: give this node the same HSM keys as the others (docs/hsm-cluster.md).");
        }

        authenticator.CreateMacKey(MacKeyLabel);
        return true;
    }
}
