using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace OpenHgs.Crypto;

/// <summary>
/// A store of asymmetric private keys: an HSM token, or the embedded software store.
/// </summary>
/// <remarks>
/// Security contract: private key material never crosses this interface. Keys are generated inside the
/// store, and callers only ever receive public keys, signatures and the plaintext of data they asked to
/// decrypt. Implementations must create keys non-exportable (for PKCS#11: CKA_SENSITIVE, not
/// CKA_EXTRACTABLE, CKA_TOKEN) and must be safe to call from many threads at once.
/// Failures of the store itself (device gone, session lost and not recoverable) surface as
/// <see cref="KeyStoreUnavailableException"/> so callers can fail closed; a missing key as
/// <see cref="KeyNotFoundInStoreException"/>.
/// </remarks>
public interface IKeyStore : IDisposable
{
    /// <summary>The backend name, e.g. <c>software</c> or <c>pkcs11</c>.</summary>
    string Kind { get; }

    /// <summary>What the store really supports, probed when it was opened (not what it advertises).</summary>
    KeyStoreCapabilities Capabilities { get; }

    /// <summary>Generates a new key pair inside the store. Fails if <paramref name="request"/>'s label exists.</summary>
    StoredKey CreateKey(CreateKeyRequest request);

    /// <summary>The key with this label, or null.</summary>
    StoredKey? FindKey(string label);

    /// <summary>Every key this store holds that OpenHGS created.</summary>
    IReadOnlyList<StoredKey> ListKeys();

    /// <summary>Destroys the key pair. Returns false when there was no such key.</summary>
    bool DeleteKey(string label);

    /// <summary>Signs a digest the caller computed. The scheme decides the padding (RSA) or encoding (ECDSA: r‖s).</summary>
    byte[] SignHash(SignHashRequest request);

    /// <summary>RSA-OAEP decryption inside the store; the plaintext is the caller's to zero.</summary>
    byte[] Decrypt(DecryptRequest request);

    /// <summary>
    /// How the store holds the key pair or MAC key labelled <paramref name="label"/>, as the store itself reports it now
    /// (never from a cache): the evidence a security officer checks that the key cannot have left it. Reads attributes,
    /// never key material. A required member, so that no decorator can answer for the store it wraps by omission.
    /// </summary>
    IReadOnlyList<KeyCustody> DescribeCustody(string label);
}

/// <summary>Opens a key store from its URI; one implementation per backend assembly.</summary>
public interface IKeyStoreProvider
{
    /// <summary>The URI scheme this provider serves (<c>software</c>, <c>pkcs11</c>).</summary>
    string Scheme { get; }

    /// <summary>Opens (and probes) the store. Throws <see cref="KeyStoreConfigurationException"/> naming the bad field.</summary>
    IKeyStore Open(KeyStoreUri uri, KeyStoreOpenContext context);
}

/// <summary>
/// Optional for an <see cref="IKeyStoreProvider"/> whose stores share process-wide state (a PKCS#11 module is loaded
/// once per process): refuses, before anything is opened, stores that cannot be open in one process together, such
/// as cluster members that would need one module file loaded with two different environments.
/// </summary>
public interface IKeyStoreCoexistenceCheck
{
    /// <summary>
    /// Throws <see cref="KeyStoreConfigurationException"/> naming the field (and the store, by its name) when
    /// <paramref name="stores"/> cannot be open together. Problems of a single store that opening it reports anyway
    /// may be left to <see cref="IKeyStoreProvider.Open"/>.
    /// </summary>
    void CheckOpenTogether(IReadOnlyList<(string Name, KeyStoreUri Uri)> stores);
}

/// <summary>Where relative paths resolve, whether the service runs in production, and where stores log.</summary>
public sealed record KeyStoreOpenContext(string DataDirectory, bool Production)
{
    /// <summary>Reads secrets named by a pin-source (e.g. <c>env:VAR</c>); replaceable for tests.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>
    /// The host's loggers, for what a store does on its own after it opened (a cluster member going down, coming back,
    /// its retries) and for how it opened (which module was loaded). Stores log names, labels, paths and return codes,
    /// never PINs, key material or <c>module-env</c> values. Defaults to discarding everything.
    /// </summary>
    public ILoggerFactory Loggers { get; init; } = NullLoggerFactory.Instance;
}
