using OpenHgs.Crypto;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A decorator over the service's real key store that counts the signatures it makes, per key label, so a test can
/// show that a request cost (or did not cost) the store a signature. Forwards the record authenticator (row MACs); it
/// refuses to wrap a store with other capabilities rather than silently dropping them.
/// </summary>
public sealed class SignatureCountingKeyStore : IKeyStore, IRecordAuthenticator
{
    private readonly IKeyStore _inner;
    private readonly IRecordAuthenticator _authenticator;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _signatures = new();

    public SignatureCountingKeyStore(IKeyStore inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner is ITransportKeyRewrapper or IKeyStoreHealth || inner is not IRecordAuthenticator authenticator)
        {
            throw new NotSupportedException($"The {inner.Kind} store has capabilities this test decorator does not forward.");
        }

        _inner = inner;
        _authenticator = authenticator;
    }

    /// <summary>Signatures made so far, by any key but the audit checkpoint key (which signs on its own timer).</summary>
    public int SignaturesExceptCheckpoints => _signatures.Where(p => p.Key != OpenHgs.Service.Audit.AuditCheckpointKey.Label).Sum(p => p.Value);

    public string Kind => _inner.Kind;

    public KeyStoreCapabilities Capabilities => _inner.Capabilities;

    public bool CanAuthenticateRecords => _authenticator.CanAuthenticateRecords;

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

    public void CreateMacKey(string label) => _authenticator.CreateMacKey(label);

    public bool HasMacKey(string label) => _authenticator.HasMacKey(label);

    public bool DeleteMacKey(string label) => _authenticator.DeleteMacKey(label);

    public byte[] ComputeMac(string label, byte[] data) => _authenticator.ComputeMac(label, data);

    public void Dispose() => _inner.Dispose();
}
