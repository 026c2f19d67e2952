using OpenHgs.Crypto;

namespace OpenHgs.Service.Observability;

/// <summary>
/// Times every key store (HSM) operation into <see cref="HgsMetrics"/> (<c>hgs_keystore_operation_duration_seconds</c>
/// by operation and outcome) and reports a cluster's members (<c>hgs_keystore_member_up</c>).
/// </summary>
/// <remarks>
/// Security contract: the decorator changes nothing the store does or answers; it only measures. It exposes exactly the
/// optional capability interfaces (<see cref="CapabilityInterfaces"/>) of the store it wraps — never one more (a caller
/// asking <c>store is ITransportKeyRewrapper</c> must get the store's answer) and never one less (a decorator that
/// dropped <see cref="ITransportKeyRewrapper"/> would silently move transport keys into memory, one that dropped
/// <see cref="IRecordAuthenticator"/> would stop the row MACs). <see cref="Wrap"/> picks the subclass that declares the
/// wrapped store's set; a new capability interface must be added to <see cref="CapabilityInterfaces"/> and the subclasses.
/// </remarks>
public class MeteredKeyStore : IKeyStore
{
    /// <summary>Every optional capability interface a key store may have, besides <see cref="IKeyStore"/>.</summary>
    public static IReadOnlyList<Type> CapabilityInterfaces { get; } = [typeof(ITransportKeyRewrapper), typeof(IRecordAuthenticator), typeof(IKeyStoreHealth)];

    private readonly IKeyStore _inner;
    private readonly HgsMetrics _metrics;

    private MeteredKeyStore(IKeyStore inner, HgsMetrics metrics)
    {
        _inner = inner;
        _metrics = metrics;
    }

    /// <summary>The metered store, with exactly <paramref name="inner"/>'s capability interfaces.</summary>
    public static IKeyStore Wrap(IKeyStore inner, HgsMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(metrics);
        MeteredKeyStore store = (inner is ITransportKeyRewrapper, inner is IRecordAuthenticator, inner is IKeyStoreHealth) switch
        {
            (false, false, false) => new MeteredKeyStore(inner, metrics),
            (true, false, false) => new R(inner, metrics),
            (false, true, false) => new A(inner, metrics),
            (false, false, true) => new H(inner, metrics),
            (true, true, false) => new RA(inner, metrics),
            (true, false, true) => new RH(inner, metrics),
            (false, true, true) => new AH(inner, metrics),
            (true, true, true) => new RAH(inner, metrics),
        };
        if (inner is IKeyStoreHealth health)
        {
            metrics.ObserveKeyStoreMembers(health);
        }

        return store;
    }

    public string Kind => _inner.Kind;

    public KeyStoreCapabilities Capabilities => _inner.Capabilities;

    public StoredKey CreateKey(CreateKeyRequest request) => Measure("create", () => _inner.CreateKey(request));

    public StoredKey? FindKey(string label) => Measure("find", () => _inner.FindKey(label));

    public IReadOnlyList<StoredKey> ListKeys() => Measure("list", _inner.ListKeys);

    public bool DeleteKey(string label) => Measure("delete", () => _inner.DeleteKey(label));

    public byte[] SignHash(SignHashRequest request) => Measure("sign", () => _inner.SignHash(request));

    public byte[] Decrypt(DecryptRequest request) => Measure("decrypt", () => _inner.Decrypt(request));

    public IReadOnlyList<KeyCustody> DescribeCustody(string label) => Measure("custody", () => _inner.DescribeCustody(label));

    // The capability members: public so that the subclasses declaring a capability implement it with them; reachable
    // through an interface only when the wrapped store has that capability.
    public bool CanRewrap(OaepHash unwrap, OaepHash target) => ((ITransportKeyRewrapper)_inner).CanRewrap(unwrap, target);

    public RewrapResult Rewrap(RewrapRequest request) => Measure("rewrap", () => ((ITransportKeyRewrapper)_inner).Rewrap(request));

    public bool CanAuthenticateRecords => ((IRecordAuthenticator)_inner).CanAuthenticateRecords;

    public void CreateMacKey(string label) => Measure("mac_key_create", () =>
    {
        ((IRecordAuthenticator)_inner).CreateMacKey(label);
        return true;
    });

    public bool HasMacKey(string label) => Measure("mac_key_find", () => ((IRecordAuthenticator)_inner).HasMacKey(label));

    public bool DeleteMacKey(string label) => Measure("mac_key_delete", () => ((IRecordAuthenticator)_inner).DeleteMacKey(label));

    public byte[] ComputeMac(string label, byte[] data) => Measure("mac", () => ((IRecordAuthenticator)_inner).ComputeMac(label, data));

    public IReadOnlyList<KeyStoreMemberStatus> Members => ((IKeyStoreHealth)_inner).Members;

    public void Dispose()
    {
        _inner.Dispose();
        GC.SuppressFinalize(this);
    }

    private T Measure<T>(string operation, Func<T> run)
    {
        long start = _metrics.Start();
        string outcome = HgsMetrics.Outcomes.Error;
        try
        {
            var result = run();
            outcome = HgsMetrics.Outcomes.Ok;
            return result;
        }
        catch (KeyNotFoundInStoreException)
        {
            outcome = HgsMetrics.Outcomes.NotFound;
            throw;
        }
        catch (KeyStoreUnavailableException)
        {
            outcome = HgsMetrics.Outcomes.Unavailable;
            throw;
        }
        finally
        {
            _metrics.KeyStoreOperation(operation, outcome, _metrics.Since(start));
        }
    }

    // One subclass per set of capabilities: each only declares its interfaces; the members above implement them.
    private sealed class R(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), ITransportKeyRewrapper;

    private sealed class A(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), IRecordAuthenticator;

    private sealed class H(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), IKeyStoreHealth;

    private sealed class RA(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), ITransportKeyRewrapper, IRecordAuthenticator;

    private sealed class RH(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), ITransportKeyRewrapper, IKeyStoreHealth;

    private sealed class AH(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), IRecordAuthenticator, IKeyStoreHealth;

    private sealed class RAH(IKeyStore inner, HgsMetrics metrics) : MeteredKeyStore(inner, metrics), ITransportKeyRewrapper, IRecordAuthenticator, IKeyStoreHealth;
}
