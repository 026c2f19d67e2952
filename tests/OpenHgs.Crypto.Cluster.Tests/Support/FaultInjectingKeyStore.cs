namespace OpenHgs.Crypto.Cluster.Tests.Support;

/// <summary>
/// The test's handle on one cluster member: whether it is reachable, and how often the cluster opened it and
/// sent it operations. The keys behind it are real (a software key store on disk).
/// </summary>
/// <remarks>
/// This is a fake on purpose, and only for faults: a real backend cannot be made to fail deterministically at a
/// chosen call, stay dead for exactly as long as a test step needs, or refuse a reopen on demand. Failures of real
/// PKCS#11 members (a killed p11-kit server) are covered by <c>P11KitClusterTests</c>.
/// </remarks>
internal sealed class FaultyMember(string name, Func<IKeyStore> openInner)
{
    private int _opens;
    private int _attempts;

    public string Name { get; } = name;

    /// <summary>The member cannot be reached: every call, and every attempt to open it, fails as unavailable.</summary>
    public volatile bool Dead;

    /// <summary>While set and not signalled, operations hang inside the member (a call that never returns).</summary>
    public ManualResetEventSlim? Hang { get; set; }

    /// <summary>The member cannot hold HMAC keys (a token without CKM_SHA256_HMAC).</summary>
    public bool WithoutMacKeys { get; set; }

    /// <summary>Replaces the real store's capabilities (a weaker token).</summary>
    public KeyStoreCapabilities? Capabilities { get; set; }

    /// <summary>Hides the real store's re-wrap capability (a token without C_UnwrapKey/C_WrapKey, or an older firmware).</summary>
    public bool NoRewrap { get; set; }

    /// <summary>Opens a different store than the one the member started with (e.g. restored from another backup).</summary>
    public Func<IKeyStore>? ReopenInner { get; set; }

    public int Opens => Volatile.Read(ref _opens);

    /// <summary>Operations that reached the member, failed or not.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>The store instance the cluster currently uses (the last one opened).</summary>
    public FaultInjectingKeyStore? Current { get; private set; }

    public ClusterMemberDefinition Definition() => new(Name, $"test:{Name}", Open);

    public FaultInjectingKeyStore Open()
    {
        int opens = Interlocked.Increment(ref _opens);
        if (Dead)
        {
            throw new KeyStoreUnavailableException($"injected: {Name} cannot be reached");
        }

        IKeyStore inner = opens > 1 && ReopenInner is not null ? ReopenInner() : openInner();
        Current = new FaultInjectingKeyStore(inner, this);
        return Current;
    }

    internal void CountAttempt() => Interlocked.Increment(ref _attempts);

    /// <summary>Forgets the attempts so far (the cluster's key listing when it opened).</summary>
    public void ResetAttempts() => Interlocked.Exchange(ref _attempts, 0);
}

/// <summary>
/// Delegates to a real store unless its <see cref="FaultyMember"/> is dead or this instance is <see cref="Broken"/>.
/// Re-wraps and MACs when the real store can (a decorator keeps the capabilities of what it wraps) and the member does not hide it.
/// </summary>
internal sealed class FaultInjectingKeyStore(IKeyStore inner, FaultyMember member) : IKeyStore, ITransportKeyRewrapper, IRecordAuthenticator
{
    private int _disposed;

    /// <summary>This instance failed for good (as a PKCS#11 module behind a dead connection): only a reopen helps.</summary>
    public volatile bool Broken;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public string Kind => "test";

    public KeyStoreCapabilities Capabilities => member.Capabilities ?? inner.Capabilities;

    public StoredKey CreateKey(CreateKeyRequest request) => Guard(() => inner.CreateKey(request));

    public StoredKey? FindKey(string label) => Guard(() => inner.FindKey(label));

    public IReadOnlyList<StoredKey> ListKeys() => Guard(inner.ListKeys);

    public bool DeleteKey(string label) => Guard(() => inner.DeleteKey(label));

    public byte[] SignHash(SignHashRequest request) => Guard(() => inner.SignHash(request));

    public byte[] Decrypt(DecryptRequest request) => Guard(() => inner.Decrypt(request));

    public IReadOnlyList<KeyCustody> DescribeCustody(string label) => Guard(() => inner.DescribeCustody(label));

    public bool CanRewrap(OaepHash unwrap, OaepHash target) =>
        !member.NoRewrap && inner is ITransportKeyRewrapper rewrapper && rewrapper.CanRewrap(unwrap, target);

    public RewrapResult Rewrap(RewrapRequest request) => Guard(() => inner is ITransportKeyRewrapper rewrapper && !member.NoRewrap
        ? rewrapper.Rewrap(request)
        : throw new KeyStoreOperationException($"{member.Name} cannot re-wrap"));

    public bool CanAuthenticateRecords => !member.WithoutMacKeys && inner.AsRecordAuthenticator() is not null;

    public void CreateMacKey(string label) => Guard(() =>
    {
        inner.AsRecordAuthenticator()!.CreateMacKey(label);
        return 0;
    });

    public bool HasMacKey(string label) => Guard(() => inner.AsRecordAuthenticator()!.HasMacKey(label));

    public bool DeleteMacKey(string label) => Guard(() => inner.AsRecordAuthenticator()!.DeleteMacKey(label));

    public byte[] ComputeMac(string label, byte[] data) => Guard(() => inner.AsRecordAuthenticator()!.ComputeMac(label, data));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            inner.Dispose();
        }
    }

    private T Guard<T>(Func<T> operation)
    {
        member.CountAttempt();
        member.Hang?.Wait();
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return member.Dead || Broken
            ? throw new KeyStoreUnavailableException($"injected: {member.Name} is unavailable")
            : operation();
    }
}
