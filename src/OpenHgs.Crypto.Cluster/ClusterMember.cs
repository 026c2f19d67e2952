namespace OpenHgs.Crypto.Cluster;

/// <summary>
/// What a member is at one moment: its open store (null when it could not be opened), whether it takes operations,
/// and the circuit breaker's bookkeeping. Immutable; a member swaps it whole under its lock, so the request path
/// reads it without locking.
/// </summary>
/// <param name="Generation">Incremented on every transition; a failure report for an older generation is stale and ignored.</param>
internal sealed record MemberState(
    IKeyStore? Store,
    bool Up,
    int Generation,
    long Failures,
    TimeSpan Backoff,
    DateTimeOffset? NextRetry,
    string? LastError);

/// <summary>One member of a <see cref="ClusterKeyStore"/>: its definition, current state, counters and optional concurrency limit.</summary>
internal sealed class ClusterMember(ClusterMemberDefinition definition, int? concurrency)
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim? _slots = concurrency is { } n ? new SemaphoreSlim(n, n) : null;
    private volatile MemberState _state = new(null, Up: false, Generation: 0, Failures: 0, Backoff: TimeSpan.Zero, NextRetry: null, LastError: null);
    private long _operations;

    public ClusterMemberDefinition Definition { get; } = definition;

    public string Name => Definition.Name;

    public MemberState State => _state;

    public long Operations => Interlocked.Read(ref _operations);

    public void CountOperation() => Interlocked.Increment(ref _operations);

    /// <summary>
    /// Runs <paramref name="action"/> on <paramref name="store"/> within the member's concurrency limit. Waiting longer
    /// than <paramref name="queueTimeout"/> for a slot throws <see cref="TimeoutException"/> (a member failure): the
    /// member is stuck, most likely inside a call that never returns.
    /// </summary>
    public T Call<T>(IKeyStore store, Func<IKeyStore, T> action, TimeSpan queueTimeout)
    {
        if (_slots is null)
        {
            return action(store);
        }

        if (!_slots.Wait(queueTimeout))
        {
            throw new TimeoutException($"cluster member {Name} did not finish its previous operation within {queueTimeout.TotalSeconds:F0} s.");
        }

        try
        {
            return action(store);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Takes <paramref name="store"/> into service.</summary>
    public void MarkUp(IKeyStore store)
    {
        lock (_gate)
        {
            MemberState s = _state;
            _state = s with { Store = store, Up = true, Generation = s.Generation + 1, Backoff = TimeSpan.Zero, NextRetry = null };
        }
    }

    /// <summary>
    /// Takes the member out of service after an operation on generation <paramref name="generation"/> failed, and
    /// schedules the first retry. Returns false when the report is stale (the member already went down, or was
    /// replaced, since the failing operation started), so only one of many concurrent failures counts.
    /// </summary>
    public bool MarkDown(int generation, string error, DateTimeOffset now, TimeSpan initialBackoff)
    {
        lock (_gate)
        {
            MemberState s = _state;
            if (!s.Up || s.Generation != generation)
            {
                return false;
            }

            _state = s with
            {
                Up = false,
                Generation = s.Generation + 1,
                Failures = s.Failures + 1,
                Backoff = initialBackoff,
                NextRetry = now + initialBackoff,
                LastError = error,
            };
            return true;
        }
    }

    /// <summary>Records a member that could not be opened (at start) or failed a retry probe; the back-off doubles up to the cap.</summary>
    public MemberState RecordFailedProbe(string error, DateTimeOffset now, ClusterOptions options, IKeyStore? keepStore)
    {
        lock (_gate)
        {
            MemberState s = _state;
            TimeSpan backoff = s.Backoff <= TimeSpan.Zero
                ? options.RetryInitial
                : TimeSpan.FromTicks(Math.Min(options.RetryMaximum.Ticks, s.Backoff.Ticks * 2));
            _state = s with
            {
                Store = keepStore,
                Up = false,
                Generation = s.Generation + 1,
                Failures = s.Store is null && s.Generation == 0 ? s.Failures + 1 : s.Failures,
                Backoff = backoff,
                NextRetry = now + backoff,
                LastError = error,
            };
            return _state;
        }
    }

    public KeyStoreMemberStatus Status()
    {
        MemberState s = _state;
        return new KeyStoreMemberStatus(Name, Definition.Location, s.Up ? KeyStoreMemberState.Up : KeyStoreMemberState.Down,
            s.LastError, s.Failures, s.Up ? null : s.NextRetry, Operations);
    }
}
