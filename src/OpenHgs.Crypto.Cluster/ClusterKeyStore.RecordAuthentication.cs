namespace OpenHgs.Crypto.Cluster;

/// <summary>
/// The cluster's <see cref="IRecordAuthenticator"/>: offered only when every member that opened offers it (a decorator
/// never invents a capability), MACs routed like Decrypt (round-robin, fail-over on member failure).
/// </summary>
/// <remarks>
/// Every member must hold the same MAC key (tokens cloned, or HSMs that replicate: docs/hsm-cluster.md). A MAC key is
/// checked the first time it is looked up or created: every member that is up must hold it and give the same MAC of a
/// probe message, and a member coming back later must give that MAC too, or it stays down.
/// </remarks>
public sealed partial class ClusterKeyStore : IRecordAuthenticator
{
    private static readonly byte[] MacProbe = "OpenHGS cluster MAC key check"u8.ToArray();

    // Label → the MAC of MacProbe that every member must reproduce; replaced whole, never mutated.
    private volatile Dictionary<string, byte[]> _macProbes = new(StringComparer.Ordinal);

    public bool CanAuthenticateRecords { get; private set; }

    public bool HasMacKey(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        RequireRecordAuthentication();
        var answers = UpMembers().Select(m => (m.Member.Name, Has: m.Member.Call(m.State.Store!, s => Authenticator(s).HasMacKey(label), _options.MemberQueueTimeout))).ToList();
        if (answers.Count == 0)
        {
            throw new KeyStoreUnavailableException($"No key store cluster member is up to find MAC key '{label}'.");
        }

        if (answers.All(a => !a.Has))
        {
            return false;
        }

        if (answers.Any(a => !a.Has))
        {
            throw new KeyStoreConfigurationException("member",
                $"MAC key '{label}' is on {string.Join(", ", answers.Where(a => a.Has).Select(a => a.Name))} but not on {string.Join(", ", answers.Where(a => !a.Has).Select(a => a.Name))}. Copy (clone) one token to the others.");
        }

        RememberMacKey(label, RequireSameMacKey(label));
        return true;
    }

    public void CreateMacKey(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        RequireRecordAuthentication();
        lock (_management)
        {
            var members = RequireAllUp($"create MAC key '{label}'");
            var (first, firstState) = members[0];
            first.Call(firstState.Store!, s => { Authenticator(s).CreateMacKey(label); return 0; }, _options.MemberQueueTimeout);
            try
            {
                RememberMacKey(label, RequireSameMacKey(label));
            }
            catch (Exception ex) when (ex is KeyStoreConfigurationException or KeyNotFoundInStoreException)
            {
                first.Call(firstState.Store!, s => Authenticator(s).DeleteMacKey(label), _options.MemberQueueTimeout);
                throw new KeyStoreOperationException(
                    $"MAC key '{label}' was generated on cluster member {first.Name} but the other members do not hold the same key ({ex.Message}); "
                    + "independent members cannot generate the same non-extractable key, so it was deleted again. Create it on one member, then clone that token to the others (docs/hsm-cluster.md).");
            }
        }
    }

    public bool DeleteMacKey(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        RequireRecordAuthentication();
        lock (_management)
        {
            bool deleted = false;
            foreach (var (member, state) in RequireAllUp($"delete MAC key '{label}'"))
            {
                deleted |= member.Call(state.Store!, s => Authenticator(s).DeleteMacKey(label), _options.MemberQueueTimeout);
            }

            var probes = new Dictionary<string, byte[]>(_macProbes, StringComparer.Ordinal);
            probes.Remove(label);
            _macProbes = probes;
            return deleted;
        }
    }

    public byte[] ComputeMac(string label, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        RequireRecordAuthentication();
        return Execute($"MAC with key '{label}'", store => Authenticator(store).ComputeMac(label, data));
    }

    /// <summary>A member coming back must reproduce every MAC key the cluster checked (called from the member check).</summary>
    private void VerifyMacKeys(IKeyStore store)
    {
        if (!CanAuthenticateRecords)
        {
            return;
        }

        var authenticator = store.AsRecordAuthenticator()
            ?? throw new KeyStoreOperationException("the member cannot hold HMAC keys, which the cluster was opened with.");
        foreach (var (label, probe) in _macProbes)
        {
            if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(authenticator.ComputeMac(label, MacProbe), probe))
            {
                throw new KeyStoreOperationException($"the member holds another MAC key '{label}' than the cluster.");
            }
        }
    }

    /// <summary>The probe MAC, when every up member gives the same one; else a configuration error naming the members.</summary>
    private byte[] RequireSameMacKey(string label)
    {
        var macs = UpMembers().Select(m => (m.Member.Name, Mac: m.Member.Call(m.State.Store!, s => Authenticator(s).ComputeMac(label, MacProbe), _options.MemberQueueTimeout))).ToList();
        var reference = macs[0];
        var different = macs.Where(m => !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(m.Mac, reference.Mac)).Select(m => m.Name).ToList();
        return different.Count == 0
            ? reference.Mac
            : throw new KeyStoreConfigurationException("member",
                $"cluster members must hold the same MAC key '{label}', but {string.Join(", ", different)} differ from {reference.Name}. Copy (clone) one token to the others.");
    }

    private void RememberMacKey(string label, byte[] probe) =>
        _macProbes = new Dictionary<string, byte[]>(_macProbes, StringComparer.Ordinal) { [label] = probe };

    private List<(ClusterMember Member, MemberState State)> UpMembers()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _members.Select(m => (Member: m, State: m.State)).Where(m => m.State.Up && m.State.Store is not null).ToList();
    }

    private void RequireRecordAuthentication()
    {
        if (!CanAuthenticateRecords)
        {
            throw new KeyStoreOperationException("Not every cluster member can hold HMAC keys (probed when the members opened).");
        }
    }

    private static IRecordAuthenticator Authenticator(IKeyStore store) =>
        store.AsRecordAuthenticator() ?? throw new KeyStoreOperationException("A cluster member cannot hold HMAC keys.");
}
