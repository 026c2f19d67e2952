using OpenHgs.Storage;

namespace OpenHgs.Service.Policies;

/// <summary>
/// The evaluated policy set (policy states and every registered baseline, deserialised, its event log parsed and
/// replayed) per policy version, so an attestation does not re-read and re-parse every baseline.
/// </summary>
/// <remarks>
/// <para>
/// Keyed by the policy version alone, which is exact: the only writers of the <c>policies</c> and <c>baselines</c>
/// tables are <see cref="PolicyService.SetStateAsync"/>, <see cref="PolicyService.AddBaselineAsync"/> and
/// <see cref="PolicyService.RemoveBaselineAsync"/>, and each
/// bumps the version in the same transaction as its change, so two policy sets read under the same version are the
/// same (the version only grows, on every node sharing the database). A set is read on its own connection without a
/// transaction, so it is kept only when the version read before the states and baselines equals the one read after
/// them (a change committing in between would bump it); otherwise it is read again.
/// </para>
/// <para>
/// Callers ask for the version their <see cref="Admin.SettingsService"/> snapshot names (cached for at most
/// <see cref="Admin.SettingsService.CacheLifetime"/>); a miss reads the database and returns the set of the version it
/// finds there, which may be newer than asked. <see cref="Attestation.Tpm.TpmAttestationService"/> then compares
/// the version with the database's inside its write transaction and decides again when it moved.
/// </para>
/// <para>
/// Bounded: the <see cref="Capacity"/> newest versions are kept. Concurrent misses of one version share one read.
/// </para>
/// </remarks>
public sealed class PolicySnapshotCache(IHgsDatabase database)
{
    /// <summary>Policy versions kept (each holds every registered baseline's parsed log).</summary>
    public const int Capacity = 4;

    private const int MaxReads = 5;
    private readonly Lock _gate = new();
    private readonly Dictionary<int, Task<PolicySnapshot>> _byVersion = [];
    private long _loads;

    /// <summary>How many times a policy set was read from the database (for tests and diagnostics).</summary>
    public long Loads => Interlocked.Read(ref _loads);

    /// <summary>
    /// The policy set of <paramref name="version"/> when cached; otherwise the one in the database now (its
    /// <see cref="PolicySnapshot.Version"/> says which version it is, possibly newer than asked).
    /// </summary>
    public async Task<PolicySnapshot> GetAsync(int version, CancellationToken cancellationToken)
    {
        Task<PolicySnapshot> load;
        lock (_gate)
        {
            if (!_byVersion.TryGetValue(version, out load!))
            {
                load = LoadAndStoreAsync(version);
                _byVersion[version] = load;
                Trim();
            }
        }

        return await load.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the set in force (shared by every caller that missed <paramref name="requested"/>), then files it under its own version.</summary>
    private async Task<PolicySnapshot> LoadAndStoreAsync(int requested)
    {
        await Task.Yield();   // do not run the read under the caller's lock
        PolicySnapshot snapshot;
        try
        {
            snapshot = await ReadConsistentAsync().ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                Remove(requested);
            }

            throw;
        }

        lock (_gate)
        {
            if (snapshot.Version != requested)
            {
                // The caller's settings were older (or newer) than the database: file the set under the version it is.
                // An older request keeps pointing at it too, so callers whose settings are still cached at the old
                // version (up to SettingsService.CacheLifetime) do not re-read the database on every attestation; the
                // set names its own version, which the attest transaction compares with the database's.
                Remove(requested);
                var stored = Task.FromResult(snapshot);
                _byVersion.TryAdd(snapshot.Version, stored);
                if (requested < snapshot.Version)
                {
                    _byVersion[requested] = stored;
                }

                Trim();
            }
        }

        return snapshot;
    }

    private async Task<PolicySnapshot> ReadConsistentAsync()
    {
        for (int attempt = 1; ; attempt++)
        {
            Interlocked.Increment(ref _loads);
            var (before, snapshot) = await database.ReadAsync(
                async s => (await PolicyService.ReadVersionAsync(s).ConfigureAwait(false), await PolicyService.LoadAsync(s).ConfigureAwait(false)),
                CancellationToken.None).ConfigureAwait(false);
            if (before == snapshot.Version)
            {
                return snapshot;
            }

            if (attempt == MaxReads)
            {
                // Needs MaxReads policy changes committing during MaxReads reads of a few milliseconds: not cached, not used.
                throw ServiceException.Unavailable("PolicyChanging", "The policy set changed during every read of it; retry the request.");
            }
        }
    }

    private void Remove(int version)
    {
        _byVersion.Remove(version);
    }

    private void Trim()
    {
        while (_byVersion.Count > Capacity)
        {
            _byVersion.Remove(_byVersion.Keys.Min());
        }
    }
}
