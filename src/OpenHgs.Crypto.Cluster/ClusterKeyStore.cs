using Microsoft.Extensions.Logging;

namespace OpenHgs.Crypto.Cluster;

/// <summary>
/// A key store made of several member key stores that hold the same keys (HSM slots, modules or appliances): load is
/// spread round-robin over the members that are up, an operation that fails because its member cannot answer is
/// retried on the next member, and a failed member is kept out (circuit open) and retried after a back-off.
/// </summary>
/// <remarks>
/// <para>Security contract: the cluster adds no key handling of its own. Every operation runs inside exactly one
/// member with that member's guarantees (keys generated inside, never exported); plaintext from Decrypt is the
/// caller's to zero, as for any store. Only <see cref="KeyStoreUnavailableException"/> (and a member's
/// configuration or disposal errors, and timeouts) count as member failures and trigger fail-over.
/// <see cref="KeyStoreOperationException"/>, <see cref="KeyNotFoundInStoreException"/> and argument errors are
/// answers about the request, returned to the caller at once: a bad ciphertext must never take members down or be
/// replayed against every member. Sign and decrypt are idempotent, so replaying a failed one elsewhere is safe.</para>
/// <para>Consistency contract: members must hold the same keys (same labels, same public keys). This is checked when
/// the cluster opens (a mismatch is a configuration error) and again before a failed member is taken back (a member
/// restored from an old backup stays down). <see cref="CreateKey"/> and <see cref="DeleteKey"/> need every member
/// up; CreateKey generates on the first member and succeeds only if the key then appears, with the same public key,
/// on every other member (HSMs that replicate, e.g. HA groups); otherwise it deletes the key again and refuses,
/// because independent members cannot generate the same non-extractable key. See docs/hsm-cluster.md.</para>
/// <para>Circuit breaker: a member goes down on its first member failure. While down it receives no operations; a
/// background probe retries it after <see cref="ClusterOptions.RetryInitial"/>, doubling to
/// <see cref="ClusterOptions.RetryMaximum"/> after each failed retry. A retry first asks the existing member store
/// (it may have recovered by itself, as PKCS#11 stores do after a token comes back); if that fails, the store is
/// disposed and opened afresh from its URI (a PKCS#11 module behind a dead remote connection needs C_Finalize and
/// C_Initialize). Either way the member must list the cluster's keys and offer the cluster's capabilities.</para>
/// <para>HSM-native re-wrap (<see cref="ITransportKeyRewrapper"/>) is routed like Decrypt: round-robin, fail-over and
/// circuit breaker included. The cluster can re-wrap with a pair of OAEP hashes only when every member that opened at
/// start can (probed by each member); a member that cannot is not taken back later, as for capabilities. So a release
/// never silently unwraps in memory because it happened to land on a weaker member.</para>
/// <para>Thread safety: every member is safe to call from many threads; the request path takes no lock.</para>
/// </remarks>
public sealed partial class ClusterKeyStore : IKeyStore, IKeyStoreHealth, ITransportKeyRewrapper
{
    private static readonly TimeSpan MaximumProbeInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MinimumProbeInterval = TimeSpan.FromMilliseconds(10);

    private readonly ClusterMember[] _members;
    private readonly ClusterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _management = new();
    private ITimer? _probeTimer;
    private readonly IReadOnlySet<(OaepHash Unwrap, OaepHash Target)> _rewrap;
    private volatile Dictionary<string, byte[]> _keys;
    private int _next = -1;
    private int _probing;
    private int _disposed;

    private ClusterKeyStore(ClusterMember[] members, ClusterOptions options, TimeProvider time, ILogger logger,
        KeyStoreCapabilities capabilities, IReadOnlySet<(OaepHash Unwrap, OaepHash Target)> rewrap, Dictionary<string, byte[]> keys)
    {
        _members = members;
        _options = options;
        _time = time;
        _logger = logger;
        Capabilities = capabilities;
        _rewrap = rewrap;
        _keys = keys;
    }

    public string Kind => ClusterKeyStoreProvider.SchemeName;

    /// <summary>The intersection of the capabilities of the members that opened at start; later members must offer at least these.</summary>
    public KeyStoreCapabilities Capabilities { get; }

    public IReadOnlyList<KeyStoreMemberStatus> Members => _members.Select(m => m.Status()).ToList();

    /// <summary>
    /// Opens every member. Members that fail to open start down (and are retried); at least one must open. Members
    /// that opened must hold the same keys.
    /// </summary>
    /// <exception cref="KeyStoreConfigurationException">No member opened and every failure was a configuration error, or members hold different keys.</exception>
    /// <exception cref="KeyStoreUnavailableException">No member could be opened.</exception>
    public static ClusterKeyStore Open(IReadOnlyList<ClusterMemberDefinition> definitions, ClusterOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        if (definitions.Count == 0)
        {
            throw new KeyStoreConfigurationException("member", "a cluster key store needs at least one member.");
        }

        if (definitions.Select(d => d.Name).Distinct(StringComparer.Ordinal).Count() != definitions.Count)
        {
            throw new ArgumentException("Cluster member names must be unique.", nameof(definitions));
        }

        if (options.MemberConcurrency is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MemberConcurrency, "member concurrency must be at least 1");
        }

        var members = definitions.Select(d => new ClusterMember(d, options.MemberConcurrency)).ToArray();
        var opened = new List<(ClusterMember Member, IKeyStore Store, IReadOnlyList<StoredKey> Keys)>();
        var failures = new List<(ClusterMember Member, Exception Error)>();
        foreach (ClusterMember member in members)
        {
            IKeyStore? store = null;
            try
            {
                store = member.Definition.Open();
                opened.Add((member, store, store.ListKeys()));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                SafeDispose(store);
                failures.Add((member, ex));
            }
        }

        if (opened.Count == 0)
        {
            string summary = string.Join("; ", failures.Select(f => $"{f.Member.Name} ({f.Member.Definition.Location}): {f.Error.Message}"));
            throw failures.All(f => f.Error is KeyStoreConfigurationException)
                ? new KeyStoreConfigurationException("member", $"no cluster member could be opened: {summary}")
                : new KeyStoreUnavailableException($"No key store cluster member could be opened: {summary}");
        }

        Dictionary<string, byte[]> keys = opened[0].Keys.ToDictionary(k => k.Label, k => k.SubjectPublicKeyInfo, StringComparer.Ordinal);
        foreach (var other in opened.Skip(1))
        {
            if (CompareKeys(keys, other.Keys) is { } difference)
            {
                foreach (var o in opened)
                {
                    SafeDispose(o.Store);
                }

                throw new KeyStoreConfigurationException("member",
                    $"cluster members must hold the same keys, but {other.Member.Name} differs from {opened[0].Member.Name}: {difference}. Copy (clone) one token to the others.");
            }
        }

        var capabilities = opened.Select(o => o.Store.Capabilities).Aggregate(Intersect);
        var rewrap = opened.Select(o => RewrapPairs(o.Store)).Aggregate((a, b) => a.Intersect(b).ToHashSet());
        var cluster = new ClusterKeyStore(members, options, time, logger, capabilities, rewrap, keys)
        {
            CanAuthenticateRecords = opened.All(o => o.Store.AsRecordAuthenticator() is not null),
        };
        DateTimeOffset now = time.GetUtcNow();
        foreach (var o in opened)
        {
            o.Member.MarkUp(o.Store);
        }

        foreach (var f in failures)
        {
            MemberState state = f.Member.RecordFailedProbe(f.Error.Message, now, options, keepStore: null);
            LogMemberOpenFailed(logger, f.Member.Name, f.Member.Definition.Location, f.Error.Message, state.NextRetry);
        }

        LogClusterOpened(logger, opened.Count, members.Length, keys.Count);
        TimeSpan interval = TimeSpan.FromTicks(Math.Clamp(options.RetryInitial.Ticks / 4, MinimumProbeInterval.Ticks, MaximumProbeInterval.Ticks));
        cluster._probeTimer = time.CreateTimer(static s => ((ClusterKeyStore)s!).ProbeDueMembers(), cluster, interval, interval);
        return cluster;
    }

    public StoredKey CreateKey(CreateKeyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (_management)
        {
            List<(ClusterMember Member, MemberState State)> members = RequireAllUp($"create key '{request.Label}'");
            (ClusterMember first, MemberState firstState) = members[0];
            StoredKey created;
            try
            {
                created = first.Call(firstState.Store!, s => s.CreateKey(request), _options.MemberQueueTimeout);
                first.CountOperation();
            }
            catch (Exception ex) when (IsMemberFailure(ex))
            {
                ReportFailure(first, firstState.Generation, ex);
                throw new KeyStoreUnavailableException($"Cluster member {first.Name} failed while creating key '{request.Label}': {ex.Message}", ex);
            }

            var missing = new List<string>();
            foreach ((ClusterMember member, MemberState state) in members.Skip(1))
            {
                try
                {
                    StoredKey? replica = member.Call(state.Store!, s => s.FindKey(request.Label), _options.MemberQueueTimeout);
                    if (replica is null || !replica.SubjectPublicKeyInfo.AsSpan().SequenceEqual(created.SubjectPublicKeyInfo))
                    {
                        missing.Add(member.Name);
                    }
                }
                catch (Exception ex) when (IsMemberFailure(ex))
                {
                    ReportFailure(member, state.Generation, ex);
                    missing.Add($"{member.Name} (unavailable: {ex.Message})");
                }
            }

            if (missing.Count > 0)
            {
                TryDelete(first, firstState, request.Label);
                throw new KeyStoreOperationException(
                    $"Key '{request.Label}' was generated on cluster member {first.Name} but did not appear with the same public key on {string.Join(", ", missing)}: "
                    + "these members do not replicate keys, and independent members cannot generate the same non-extractable key. The key was deleted again. "
                    + "Create keys on one member (open it alone), copy or clone its token to the other members, then use the cluster (docs/hsm-cluster.md).");
            }

            var keys = new Dictionary<string, byte[]>(_keys, StringComparer.Ordinal) { [created.Label] = created.SubjectPublicKeyInfo };
            _keys = keys;
            return created;
        }
    }

    public StoredKey? FindKey(string label) => Execute($"find key '{label}'", store => store.FindKey(label));

    public IReadOnlyList<StoredKey> ListKeys() => Execute("list keys", store => store.ListKeys());

    /// <summary>Every member's account, in configuration order: each member holds its own copy, and each copy is checked.</summary>
    public IReadOnlyList<KeyCustody> DescribeCustody(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var custody = new List<KeyCustody>();
        foreach (ClusterMember member in _members)
        {
            MemberState state = member.State;
            if (!state.Up || state.Store is not { } store)
            {
                custody.Add(new KeyCustody(label, member.Name, KeyCustodyKind.Unavailable, Problem: $"member down: {state.LastError ?? "not opened"}"));
                continue;
            }

            try
            {
                custody.AddRange(member.Call(store, s => s.DescribeCustody(label), _options.MemberQueueTimeout)
                    .Select(c => c with { Holder = $"{member.Name}: {c.Holder}" }));
                member.CountOperation();
            }
            catch (Exception ex) when (IsMemberFailure(ex))
            {
                ReportFailure(member, state.Generation, ex);
                custody.Add(new KeyCustody(label, member.Name, KeyCustodyKind.Unavailable, Problem: ex.Message));
            }
        }

        return custody;
    }

    public bool DeleteKey(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        lock (_management)
        {
            List<(ClusterMember Member, MemberState State)> members = RequireAllUp($"delete key '{label}'");
            bool deleted = false;
            var failed = new List<string>();
            foreach ((ClusterMember member, MemberState state) in members)
            {
                try
                {
                    deleted |= member.Call(state.Store!, s => s.DeleteKey(label), _options.MemberQueueTimeout);
                    member.CountOperation();
                }
                catch (Exception ex) when (IsMemberFailure(ex))
                {
                    ReportFailure(member, state.Generation, ex);
                    failed.Add($"{member.Name} ({ex.Message})");
                }
            }

            var keys = new Dictionary<string, byte[]>(_keys, StringComparer.Ordinal);
            keys.Remove(label);
            _keys = keys;
            return failed.Count == 0
                ? deleted
                : throw new KeyStoreUnavailableException(
                    $"Key '{label}' was deleted on some cluster members but not on {string.Join(", ", failed)}. Those members keep the key and will stay down "
                    + "(their keys differ from the cluster's) until it is deleted there too.");
        }
    }

    public byte[] SignHash(SignHashRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Scheme == SignatureScheme.RsaPssSha256 && !Capabilities.RsaPss)
        {
            throw new KeyStoreOperationException("Not every cluster member supports RSA-PSS signatures (probed when the members opened).");
        }

        return Execute($"sign with key '{request.Label}'", store => store.SignHash(request));
    }

    public byte[] Decrypt(DecryptRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Hash == OaepHash.Sha256 && !Capabilities.OaepSha256)
        {
            throw new KeyStoreOperationException("Not every cluster member can decrypt RSA-OAEP with SHA-256 (probed when the members opened).");
        }

        return Execute($"decrypt with key '{request.Label}'", store => store.Decrypt(request));
    }

    /// <summary>True when every member that opened with the cluster could re-wrap with these hashes (members that join later must too).</summary>
    public bool CanRewrap(OaepHash unwrap, OaepHash target) => _rewrap.Contains((unwrap, target));

    /// <summary>Re-wraps inside one member, failing over like <see cref="Decrypt"/>; replaying it elsewhere is safe (no state is kept).</summary>
    public RewrapResult Rewrap(RewrapRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!CanRewrap(request.UnwrapHash, request.TargetHash))
        {
            throw new KeyStoreOperationException(
                $"Not every cluster member can re-wrap with OAEP {request.UnwrapHash} → {request.TargetHash} inside the HSM (probed when the members opened).");
        }

        return Execute($"re-wrap with key '{request.Label}'", store => store is ITransportKeyRewrapper rewrapper
            ? rewrapper.Rewrap(request)
            : throw new KeyStoreOperationException("A cluster member cannot re-wrap inside the HSM."));
    }

    /// <summary>Stops retrying members and disposes every member store.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _probeTimer?.Dispose();

        // Wait for a running probe and keep any later one out: a probe that opened a store owns it until it
        // published it, and publishing after this point would leak it.
        var wait = new SpinWait();
        while (Interlocked.CompareExchange(ref _probing, 1, 0) != 0)
        {
            wait.SpinOnce();
        }

        foreach (ClusterMember member in _members)
        {
            SafeDispose(member.State.Store);
        }
    }

    /// <summary>
    /// Retries every down member whose back-off has elapsed (the timer calls this; tests call it after moving a
    /// fake clock). At most one probe pass runs at a time.
    /// </summary>
    internal void ProbeDueMembers()
    {
        if (Interlocked.CompareExchange(ref _probing, 1, 0) != 0)
        {
            return;
        }

        try
        {
            foreach (ClusterMember member in _members)
            {
                MemberState state = member.State;
                if (!state.Up && state.NextRetry is { } due && due <= _time.GetUtcNow())
                {
                    Probe(member, state);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    private void Probe(ClusterMember member, MemberState state)
    {
        string error;
        if (state.Store is { } existing)
        {
            try
            {
                member.Call(existing, store => Verify(store), _options.MemberQueueTimeout);
                member.MarkUp(existing);
                LogMemberUp(_logger, member.Name, reopened: false);
                return;
            }
            catch (TimeoutException ex)
            {
                // A call is stuck inside the old store; disposing it would wait for that call forever. Abandon it.
                error = ex.Message;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The old store cannot recover in place; operations that still hold it fail over when it is disposed.
                error = ex.Message;
                SafeDispose(existing);
            }
        }

        IKeyStore? store = null;
        try
        {
            store = member.Definition.Open();
            Verify(store);
            member.MarkUp(store);
            LogMemberUp(_logger, member.Name, reopened: true);
            return;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            error = ex.Message;
            SafeDispose(store);
        }

        MemberState next = member.RecordFailedProbe(error, _time.GetUtcNow(), _options, keepStore: null);
        LogMemberRetryFailed(_logger, member.Name, error, next.NextRetry);
    }

    /// <summary>A member may serve the cluster only with the cluster's keys and at least its capabilities.</summary>
    private bool Verify(IKeyStore store)
    {
        if (!Covers(store.Capabilities, Capabilities) || !_rewrap.IsSubsetOf(RewrapPairs(store)))
        {
            throw new KeyStoreOperationException("the member offers fewer capabilities than the cluster was opened with.");
        }

        if (CompareKeys(_keys, store.ListKeys()) is { } difference)
        {
            throw new KeyStoreOperationException($"the member holds different keys than the cluster: {difference}.");
        }

        VerifyMacKeys(store);
        return true;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on the up members in round-robin order, each at most once, until one answers.
    /// Member failures take that member down and move on; every other exception is the caller's.
    /// </summary>
    private T Execute<T>(string operation, Func<IKeyStore, T> action)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        int count = _members.Length;
        int start = (int)((uint)Interlocked.Increment(ref _next) % (uint)count);
        List<string>? failures = null;
        for (int i = 0; i < count; i++)
        {
            ClusterMember member = _members[(start + i) % count];
            MemberState state = member.State;
            if (!state.Up || state.Store is not { } store)
            {
                continue;
            }

            try
            {
                T result = member.Call(store, action, _options.MemberQueueTimeout);
                member.CountOperation();
                return result;
            }
            catch (Exception ex) when (IsMemberFailure(ex))
            {
                ReportFailure(member, state.Generation, ex);
                (failures ??= []).Add($"{member.Name}: {ex.Message}");
            }
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        throw new KeyStoreUnavailableException(failures is null
            ? $"No key store cluster member is up to {operation} ({string.Join("; ", Members.Select(m => $"{m.Name} {m.Describe()}"))})."
            : $"Every key store cluster member that was up failed to {operation}: {string.Join("; ", failures)}.");
    }

    private void ReportFailure(ClusterMember member, int generation, Exception error)
    {
        if (member.MarkDown(generation, error.Message, _time.GetUtcNow(), _options.RetryInitial))
        {
            LogMemberDown(_logger, member.Name, error.Message, _options.RetryInitial.TotalMilliseconds);
        }
    }

    private List<(ClusterMember Member, MemberState State)> RequireAllUp(string operation)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var members = _members.Select(m => (Member: m, State: m.State)).ToList();
        var down = members.Where(m => !m.State.Up || m.State.Store is null).Select(m => m.Member.Name).ToList();
        return down.Count == 0
            ? members
            : throw new KeyStoreUnavailableException(
                $"Cannot {operation} while cluster member(s) {string.Join(", ", down)} are down: keys must be the same on every member. Retry when every member is up.");
    }

    private void TryDelete(ClusterMember member, MemberState state, string label)
    {
        try
        {
            member.Call(state.Store!, s => s.DeleteKey(label), _options.MemberQueueTimeout);
        }
        catch (Exception ex) when (IsMemberFailure(ex) || ex is KeyStoreOperationException)
        {
            LogRollbackFailed(_logger, label, member.Name, ex.Message);
        }
    }

    /// <summary>Failures of the member rather than answers about the request; only these fail over.</summary>
    private static bool IsMemberFailure(Exception ex) =>
        ex is KeyStoreUnavailableException or KeyStoreConfigurationException or ObjectDisposedException or TimeoutException;

    /// <summary>Null when <paramref name="actual"/> has exactly the labels and public keys of <paramref name="expected"/>; else what differs.</summary>
    internal static string? CompareKeys(IReadOnlyDictionary<string, byte[]> expected, IReadOnlyList<StoredKey> actual)
    {
        var problems = new List<string>();
        var actualByLabel = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (StoredKey key in actual)
        {
            actualByLabel.TryAdd(key.Label, key.SubjectPublicKeyInfo);
        }

        foreach ((string label, byte[] publicKey) in expected)
        {
            if (!actualByLabel.TryGetValue(label, out byte[]? other))
            {
                problems.Add($"missing '{label}'");
            }
            else if (!other.AsSpan().SequenceEqual(publicKey))
            {
                problems.Add($"'{label}' has another public key");
            }
        }

        problems.AddRange(actualByLabel.Keys.Where(label => !expected.ContainsKey(label)).Select(label => $"extra '{label}'"));
        return problems.Count == 0 ? null : string.Join(", ", problems.Order(StringComparer.Ordinal).Take(10));
    }

    private static KeyStoreCapabilities Intersect(KeyStoreCapabilities a, KeyStoreCapabilities b) =>
        new(a.OaepSha256 && b.OaepSha256, a.RsaPss && b.RsaPss, a.Algorithms.Intersect(b.Algorithms).ToList());

    /// <summary>The OAEP hash pairs <paramref name="store"/> re-wraps with inside itself; none for a store without the capability.</summary>
    private static HashSet<(OaepHash Unwrap, OaepHash Target)> RewrapPairs(IKeyStore store) =>
        store is ITransportKeyRewrapper rewrapper
            ? [.. from u in Enum.GetValues<OaepHash>() from t in Enum.GetValues<OaepHash>() where rewrapper.CanRewrap(u, t) select (u, t)]
            : [];

    private static bool Covers(KeyStoreCapabilities member, KeyStoreCapabilities cluster) =>
        (member.OaepSha256 || !cluster.OaepSha256) && (member.RsaPss || !cluster.RsaPss) && cluster.Algorithms.All(member.Algorithms.Contains);

    private static void SafeDispose(IKeyStore? store)
    {
        try
        {
            store?.Dispose();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A member that is gone may fail to close; nothing of it is used again.
        }
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Key store cluster opened: {Up} of {Total} members up, {Keys} keys.")]
    private static partial void LogClusterOpened(ILogger logger, int up, int total, int keys);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Key store cluster member {Member} is down: {Error}. Operations fail over to the other members; retry in {RetryMs} ms.")]
    private static partial void LogMemberDown(ILogger logger, string member, string error, double retryMs);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Key store cluster member {Member} is up again (reopened: {Reopened}).")]
    private static partial void LogMemberUp(ILogger logger, string member, bool reopened);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Key store cluster member {Member} is still down: {Error}. Next retry at {NextRetry}.")]
    private static partial void LogMemberRetryFailed(ILogger logger, string member, string error, DateTimeOffset? nextRetry);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Key store cluster member {Member} ({Location}) could not be opened: {Error}. Next retry at {NextRetry}.")]
    private static partial void LogMemberOpenFailed(ILogger logger, string member, string location, string error, DateTimeOffset? nextRetry);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Could not delete the unreplicated key '{Label}' from cluster member {Member} again: {Error}. Delete it by hand.")]
    private static partial void LogRollbackFailed(ILogger logger, string label, string member, string error);
}
