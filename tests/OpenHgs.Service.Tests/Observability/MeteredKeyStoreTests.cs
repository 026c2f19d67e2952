using System.Diagnostics.Metrics;
using OpenHgs.Crypto;
using OpenHgs.Service.Observability;

namespace OpenHgs.Service.Tests.Observability;

/// <summary>
/// The metered key store keeps exactly the optional capability interfaces of the store it wraps (dropping
/// <see cref="ITransportKeyRewrapper"/> would move transport keys into memory, dropping <see cref="IRecordAuthenticator"/>
/// would stop row MACs), measures by closed operation names, and reports cluster members as up/down.
/// </summary>
public sealed class MeteredKeyStoreTests
{
    public static TheoryData<int> EveryCombination() => [.. Enumerable.Range(0, 1 << MeteredKeyStore.CapabilityInterfaces.Count)];

    [Fact]
    public void Every_capability_interface_of_the_key_store_layer_is_known_to_the_decorator()
    {
        // Interfaces of OpenHgs.Crypto that a store (not a provider) may implement besides IKeyStore: a new one must be
        // added to MeteredKeyStore, or the decorator would silently drop it.
        var storeCapabilities = typeof(IKeyStore).Assembly.GetExportedTypes()
            .Where(t => t.IsInterface && t != typeof(IKeyStore) && t != typeof(IKeyStoreProvider) && t != typeof(IKeyStoreCoexistenceCheck))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        Assert.Equal(storeCapabilities, MeteredKeyStore.CapabilityInterfaces.OrderBy(t => t.FullName, StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(EveryCombination))]
    public void The_decorator_has_exactly_the_wrapped_stores_capabilities(int combination)
    {
        using var meters = new TestMeterFactory();
        using var metrics = new HgsMetrics(meters, TimeProvider.System);
        var inner = FakeStore.With(combination);
        var expected = MeteredKeyStore.CapabilityInterfaces.Where(i => i.IsInstanceOfType(inner)).ToList();
        Assert.Equal(System.Numerics.BitOperations.PopCount((uint)combination), expected.Count);

        using var metered = MeteredKeyStore.Wrap(inner, metrics);
        Assert.Equal(expected, MeteredKeyStore.CapabilityInterfaces.Where(i => i.IsInstanceOfType(metered)).ToList());
        if (metered is IRecordAuthenticator authenticator)
        {
            Assert.Equal(new byte[] { 7 }, authenticator.ComputeMac("row-mac", [1]));
        }

        if (metered is ITransportKeyRewrapper rewrapper)
        {
            Assert.True(rewrapper.CanRewrap(OaepHash.Sha1, OaepHash.Sha256));
        }
    }

    [Fact]
    public void Operations_are_measured_by_name_and_outcome_and_members_by_up_or_down()
    {
        using var meters = new TestMeterFactory();
        using var metrics = new HgsMetrics(meters, TimeProvider.System);
        var measured = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == HgsMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measured.Add((i.Name, v, Tags(tags))));
        listener.SetMeasurementEventCallback<int>((i, v, tags, _) => measured.Add((i.Name, v, Tags(tags))));
        listener.Start();

        using var store = MeteredKeyStore.Wrap(FakeStore.With(0b111), metrics);
        store.SignHash(new SignHashRequest("k", new byte[32], SignatureScheme.RsaPssSha256));
        Assert.Throws<KeyNotFoundInStoreException>(() => store.Decrypt(new DecryptRequest("missing", [1], OaepHash.Sha256)));
        Assert.Throws<KeyStoreUnavailableException>(() => store.ListKeys());
        listener.RecordObservableInstruments();

        var operations = measured.Where(m => m.Instrument == "hgs_keystore_operation_duration").Select(m => ((string)m.Tags["operation"]!, (string)m.Tags["outcome"]!)).ToList();
        Assert.Equal([("sign", "ok"), ("decrypt", "not_found"), ("list", "unavailable")], operations);
        var members = measured.Where(m => m.Instrument == "hgs_keystore_member_up").ToDictionary(m => (string)m.Tags["member"]!, m => m.Value);
        Assert.Equal(new Dictionary<string, double> { ["m1"] = 1, ["m2"] = 0 }, members);
    }

    [Theory]
    [InlineData("HostKeyNotRegistered", "HostKeyNotRegistered")]
    [InlineData("host-1.example.com", HgsMetrics.OtherCode)]
    [InlineData("", HgsMetrics.OtherCode)]
    [InlineData("a b", HgsMetrics.OtherCode)]
    public void Codes_outside_plain_identifiers_never_become_labels(string code, string label) =>
        Assert.Equal(label, HgsMetrics.Label(code));

    private static Dictionary<string, object?> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            result[tag.Key] = tag.Value;
        }

        return result;
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }

    /// <summary>A store with the capability members of all three interfaces; subclasses declare a subset.</summary>
    private class FakeStore : IKeyStore
    {
        public static FakeStore With(int combination) => combination switch
        {
            0 => new FakeStore(),
            1 => new R(),
            2 => new A(),
            3 => new RA(),
            4 => new H(),
            5 => new RH(),
            6 => new AH(),
            7 => new RAH(),
            _ => throw new ArgumentOutOfRangeException(nameof(combination)),
        };

        public string Kind => "fake";

        public KeyStoreCapabilities Capabilities => throw new NotSupportedException();

        public StoredKey CreateKey(CreateKeyRequest request) => throw new NotSupportedException();

        public StoredKey? FindKey(string label) => null;

        public IReadOnlyList<StoredKey> ListKeys() => throw new KeyStoreUnavailableException("token gone");

        public bool DeleteKey(string label) => false;

        public byte[] SignHash(SignHashRequest request) => [1];

        public byte[] Decrypt(DecryptRequest request) => throw new KeyNotFoundInStoreException(request.Label);

        public IReadOnlyList<KeyCustody> DescribeCustody(string label) => [new KeyCustody(label, "fake", KeyCustodyKind.Missing)];

        public bool CanRewrap(OaepHash unwrap, OaepHash target) => true;

        public RewrapResult Rewrap(RewrapRequest request) => new([1], [2]);

        public bool CanAuthenticateRecords => true;

        public void CreateMacKey(string label)
        {
        }

        public bool HasMacKey(string label) => true;

        public bool DeleteMacKey(string label) => true;

        public byte[] ComputeMac(string label, byte[] data) => [7];

        public IReadOnlyList<KeyStoreMemberStatus> Members =>
        [
            new("m1", "pkcs11:token=A", KeyStoreMemberState.Up, null, 0, null, 3),
            new("m2", "pkcs11:token=B", KeyStoreMemberState.Down, "gone", 1, DateTimeOffset.UnixEpoch, 0),
        ];

        public void Dispose()
        {
        }

        private sealed class R : FakeStore, ITransportKeyRewrapper;

        private sealed class A : FakeStore, IRecordAuthenticator;

        private sealed class RA : FakeStore, ITransportKeyRewrapper, IRecordAuthenticator;

        private sealed class H : FakeStore, IKeyStoreHealth;

        private sealed class RH : FakeStore, ITransportKeyRewrapper, IKeyStoreHealth;

        private sealed class AH : FakeStore, IRecordAuthenticator, IKeyStoreHealth;

        private sealed class RAH : FakeStore, ITransportKeyRewrapper, IRecordAuthenticator, IKeyStoreHealth;
    }
}
