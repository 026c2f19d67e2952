using System.Collections.Concurrent;
using OpenHgs.Crypto;

namespace OpenHgs.Testing;

/// <summary>
/// A decorator over a real key store that counts the signatures (per key label) and MACs it is asked for, so a test can
/// show what a request or a verification cost (or did not cost) the store. Forwards the record authenticator (row
/// MACs); it refuses to wrap a store with other capabilities rather than silently dropping them.
/// </summary>
public sealed class CountingKeyStore : IKeyStore, IRecordAuthenticator
{
    private readonly IKeyStore _inner;
    private readonly IRecordAuthenticator _authenticator;
    private readonly bool _ownsInner;
    private readonly ConcurrentDictionary<string, int> _signatures = new();
    private int _macs;

    /// <param name="ownsInner">Dispose the inner store with this one (it replaced the inner store in a service); false when the test owns it.</param>
    public CountingKeyStore(IKeyStore inner, bool ownsInner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner is ITransportKeyRewrapper or IKeyStoreHealth || inner is not IRecordAuthenticator authenticator)
        {
            throw new NotSupportedException($"The {inner.Kind} store has capabilities this test decorator does not forward.");
        }

        _inner = inner;
        _authenticator = authenticator;
        _ownsInner = ownsInner;
    }

    /// <summary>MACs computed so far (row MACs, key check values, anything else).</summary>
    public int Macs => Volatile.Read(ref _macs);

    public string Kind => _inner.Kind;

    public KeyStoreCapabilities Capabilities => _inner.Capabilities;

    public bool CanAuthenticateRecords => _authenticator.CanAuthenticateRecords;

    /// <summary>Signatures made so far by any key but the one labelled <paramref name="label"/> (e.g. a key that signs on its own timer).</summary>
    public int SignaturesExcept(string label) => _signatures.Where(p => p.Key != label).Sum(p => p.Value);

    public StoredKey CreateKey(CreateKeyRequest request) => _inner.CreateKey(request);

    public StoredKey? FindKey(string label) => _inner.FindKey(label);

    public IReadOnlyList<StoredKey> ListKeys() => _inner.ListKeys();

    public bool DeleteKey(string label) => _inner.DeleteKey(label);

    public byte[] SignHash(SignHashRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        _signatures.AddOrUpdate(request.Label, 1, (_, n) => n + 1);
        return _inner.SignHash(request);
    }

    public byte[] Decrypt(DecryptRequest request) => _inner.Decrypt(request);

    public IReadOnlyList<KeyCustody> DescribeCustody(string label) => _inner.DescribeCustody(label);

    public void CreateMacKey(string label) => _authenticator.CreateMacKey(label);

    public bool HasMacKey(string label) => _authenticator.HasMacKey(label);

    public bool DeleteMacKey(string label) => _authenticator.DeleteMacKey(label);

    public byte[] ComputeMac(string label, byte[] data)
    {
        Interlocked.Increment(ref _macs);
        return _authenticator.ComputeMac(label, data);
    }

    public void Dispose()
    {
        if (_ownsInner)
        {
            _inner.Dispose();
        }
    }
}
