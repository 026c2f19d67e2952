using OpenHgs.Crypto;

namespace OpenHgs.Service.Tests.Support;

/// <summary>
/// A decorator over a real key store that counts the MACs it is asked to compute, so a test can show what a
/// verification cost the store. Forwards the record authenticator only; refuses a store with other capabilities.
/// </summary>
public sealed class MacCountingKeyStore : IKeyStore, IRecordAuthenticator
{
    private readonly IKeyStore _inner;
    private readonly IRecordAuthenticator _authenticator;
    private int _macs;

    public MacCountingKeyStore(IKeyStore inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner is ITransportKeyRewrapper or IKeyStoreHealth || inner is not IRecordAuthenticator authenticator)
        {
            throw new NotSupportedException($"The {inner.Kind} store has capabilities this test decorator does not forward.");
        }

        _inner = inner;
        _authenticator = authenticator;
    }

    /// <summary>MACs computed so far (row MACs, key check values, anything else).</summary>
    public int Macs => Volatile.Read(ref _macs);

    public string Kind => _inner.Kind;

    public KeyStoreCapabilities Capabilities => _inner.Capabilities;

    public bool CanAuthenticateRecords => _authenticator.CanAuthenticateRecords;

    public StoredKey CreateKey(CreateKeyRequest request) => _inner.CreateKey(request);

    public StoredKey? FindKey(string label) => _inner.FindKey(label);

    public IReadOnlyList<StoredKey> ListKeys() => _inner.ListKeys();

    public bool DeleteKey(string label) => _inner.DeleteKey(label);

    public byte[] SignHash(SignHashRequest request) => _inner.SignHash(request);

    public byte[] Decrypt(DecryptRequest request) => _inner.Decrypt(request);

    public void CreateMacKey(string label) => _authenticator.CreateMacKey(label);

    public bool HasMacKey(string label) => _authenticator.HasMacKey(label);

    public bool DeleteMacKey(string label) => _authenticator.DeleteMacKey(label);

    public byte[] ComputeMac(string label, byte[] data)
    {
        Interlocked.Increment(ref _macs);
        return _authenticator.ComputeMac(label, data);
    }

    // The inner store belongs to whoever made it.
    public void Dispose()
    {
    }
}
