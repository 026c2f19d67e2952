using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// An <see cref="IKeyStore"/> on a PKCS#11 token (an HSM, or SoftHSM2 for development and tests).
/// </summary>
/// <remarks>
/// <para>Security contract: keys are generated on the token as CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, non-extractable,
/// non-modifiable objects whose CKA_SIGN / CKA_DECRYPT+CKA_UNWRAP match the requested usage, so the token itself
/// refuses export and misuse; this class checks usage as well, to give clear errors. Private key material never
/// enters this process. Decrypted plaintext is returned to the caller, who owns (and should zero) it; the store
/// zeroes its own intermediate buffer. The PIN is read once from the URI's pin-source, held only as bytes for
/// re-login, zeroed on <see cref="Dispose"/>, and never written to messages.</para>
/// <para>Availability contract: lost sessions, a removed token or stale handles are recovered once (re-open,
/// re-login, re-find, retry); if that fails the call throws <see cref="KeyStoreUnavailableException"/> so
/// callers fail closed. Every member is thread-safe; each operation runs on a session no other thread uses.</para>
/// </remarks>
public sealed class Pkcs11KeyStore : IKeyStore, ITransportKeyRewrapper, IRecordAuthenticator
{
    private const int MaxLabelLength = 128;

    // Probing generates an RSA key pair, so it is done once per token per process; the answer cannot change
    // while the same token (same serial) sits behind the same module file.
    private static readonly ConcurrentDictionary<string, KeyStoreCapabilities> ProbedCapabilities = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, bool> ProbedRewrap = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, bool> ProbedMac = new(StringComparer.Ordinal);

    private readonly Pkcs11Module _module;
    private readonly Pkcs11SessionPool _pool;
    private readonly ConcurrentDictionary<string, Pkcs11KeyPair> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IObjectHandle> _macKeys = new(StringComparer.Ordinal);
    private readonly Lock _management = new();
    private int _disposed;

    private Pkcs11KeyStore(Pkcs11Module module, ISlot slot, Pkcs11SessionPool pool, string tokenDescription)
    {
        _module = module;
        Slot = slot;
        _pool = pool;
        TokenDescription = tokenDescription;
        _pool.Reset += _keys.Clear;
        _pool.Reset += _macKeys.Clear;
    }

    public string Kind => Pkcs11KeyStoreProvider.SchemeName;

    public KeyStoreCapabilities Capabilities { get; private set; } = new(false, false, []);

    /// <summary>Which token this store uses, e.g. <c>token 'OpenHGS' in '/usr/lib/softhsm/libsofthsm2.so'</c>.</summary>
    public string TokenDescription { get; }

    /// <summary>The slot of the token; tests use it to close every session behind the store's back.</summary>
    internal ISlot Slot { get; }

    internal Pkcs11SessionPool Sessions => _pool;

    /// <summary>Whether Decrypt runs through the zeroing low-level path on this platform.</summary>
    internal bool ZeroesDecryptBuffers => Pkcs11Decryption.CanZero(_module.LowLevelLibrary);

    public StoredKey CreateKey(CreateKeyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateLabel(request.Label);
        if (!Enum.IsDefined(request.Algorithm))
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Algorithm, "unknown key algorithm");
        }

        if (request.Usage == KeyUsage.None || (request.Usage & ~(KeyUsage.Sign | KeyUsage.Decrypt)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Usage, "a key needs Sign and/or Decrypt usage");
        }

        if (!request.Algorithm.IsRsa() && request.Usage.HasFlag(KeyUsage.Decrypt))
        {
            throw new KeyStoreOperationException($"Key '{request.Label}': {request.Algorithm} keys can only sign; decryption needs an RSA key.");
        }

        if (!Capabilities.Algorithms.Contains(request.Algorithm))
        {
            throw new KeyStoreOperationException($"The PKCS#11 token cannot generate {request.Algorithm} keys.");
        }

        lock (_management)
        {
            return Run($"create key '{request.Label}'", session =>
            {
                if (Pkcs11KeyObjects.Find(session, CKO.CKO_PRIVATE_KEY, request.Label).Count > 0
                    || Pkcs11KeyObjects.Find(session, CKO.CKO_PUBLIC_KEY, request.Label).Count > 0)
                {
                    throw new KeyStoreOperationException($"The PKCS#11 token already has a key labelled '{request.Label}'.");
                }

                Pkcs11KeyPair pair = Pkcs11KeyObjects.Generate(session, request);
                _keys[request.Label] = pair;
                return pair.Key;
            });
        }
    }

    public StoredKey? FindKey(string label)
    {
        ValidateLabel(label);

        // Always asks the token (not the handle cache), so a key deleted elsewhere is reported missing.
        Pkcs11KeyPair? pair = Run($"find key '{label}'", session => Pkcs11KeyObjects.Load(session, label));
        if (pair is null)
        {
            _keys.TryRemove(label, out _);
            return null;
        }

        _keys[label] = pair;
        return pair.Key;
    }

    public IReadOnlyList<KeyCustody> DescribeCustody(string label)
    {
        ValidateLabel(label);
        return Run($"describe the custody of key '{label}'", session => Pkcs11KeyCustody.Describe(session, label, $"pkcs11 {TokenDescription}"));
    }

    public IReadOnlyList<StoredKey> ListKeys()
    {
        List<Pkcs11KeyPair> pairs = Run("list keys", Pkcs11KeyObjects.LoadAll);
        foreach (Pkcs11KeyPair pair in pairs)
        {
            _keys[pair.Key.Label] = pair;
        }

        return pairs.Select(p => p.Key).ToList();
    }

    public bool DeleteKey(string label)
    {
        ValidateLabel(label);
        lock (_management)
        {
            return Run($"delete key '{label}'", session =>
            {
                List<IObjectHandle> objects =
                [
                    .. Pkcs11KeyObjects.Find(session, CKO.CKO_PRIVATE_KEY, label),
                    .. Pkcs11KeyObjects.Find(session, CKO.CKO_PUBLIC_KEY, label),
                ];
                foreach (IObjectHandle handle in objects)
                {
                    session.DestroyObject(handle);
                }

                _keys.TryRemove(label, out _);
                return objects.Count > 0;
            });
        }
    }

    public byte[] SignHash(SignHashRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Hash);
        ValidateLabel(request.Label);
        int hashLength = Pkcs11Mechanisms.HashLength(request.Scheme);
        if (request.Hash.Length != hashLength)
        {
            throw new KeyStoreOperationException($"{request.Scheme} signs a {hashLength}-byte digest, not {request.Hash.Length} bytes.");
        }

        if (request.Scheme == SignatureScheme.RsaPssSha256 && !Capabilities.RsaPss)
        {
            throw new KeyStoreOperationException("The PKCS#11 token does not support RSA-PSS signatures (probed when the store opened).");
        }

        return Run($"sign with key '{request.Label}'", session =>
        {
            Pkcs11KeyPair key = Resolve(session, request.Label);
            RequireUsage(key.Key, KeyUsage.Sign);
            if (Pkcs11Mechanisms.IsRsa(request.Scheme) != key.Key.Algorithm.IsRsa())
            {
                throw new KeyStoreOperationException($"Key '{request.Label}' is {key.Key.Algorithm}; it cannot make {request.Scheme} signatures.");
            }

            using IMechanism mechanism = Pkcs11Mechanisms.ForSignature(session, request.Scheme, request.Hash, out byte[] input);
            return session.Sign(mechanism, key.PrivateKey, input);
        });
    }

    public byte[] Decrypt(DecryptRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Ciphertext);
        ValidateLabel(request.Label);
        if (!Enum.IsDefined(request.Hash))
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Hash, "unknown OAEP hash");
        }

        if (request.Hash == OaepHash.Sha256 && !Capabilities.OaepSha256)
        {
            throw new KeyStoreOperationException(
                "The PKCS#11 token cannot decrypt RSA-OAEP with SHA-256 (probed when the store opened; SoftHSM2 2.6 supports SHA-1 only).");
        }

        return Run($"decrypt with key '{request.Label}'", session =>
        {
            Pkcs11KeyPair key = Resolve(session, request.Label);
            RequireUsage(key.Key, KeyUsage.Decrypt);
            using IMechanism mechanism = Pkcs11Mechanisms.ForOaep(session, request.Hash);
            try
            {
                return Pkcs11Decryption.Decrypt(_module.LowLevelLibrary, session, mechanism, key.PrivateKey, request.Ciphertext);
            }
            catch (Pkcs11Exception ex) when (ex.Method == "C_Decrypt"
                && ex.RV is CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_ENCRYPTED_DATA_LEN_RANGE or CKR.CKR_GENERAL_ERROR)
            {
                // SoftHSM answers a ciphertext that fails OAEP decoding with CKR_GENERAL_ERROR. Anyone can send such
                // a ciphertext, so it must not read as "token unavailable" (which trips fail-over); a broken token
                // shows up on the next operation anyway. The failed C_Decrypt ended the operation: the session is clean.
                throw new KeyStoreOperationException(
                    $"Key '{request.Label}' could not decrypt the ciphertext ({ex.RV}): it is corrupt, or was encrypted for another key or OAEP hash.");
            }
        });
    }

    public bool CanRewrap(OaepHash unwrap, OaepHash target) =>
        NativeRewrap && (Capabilities.OaepSha256 || (unwrap == OaepHash.Sha1 && target == OaepHash.Sha1));

    /// <summary>Whether C_UnwrapKey/C_Sign(HMAC)/C_WrapKey worked on this token when it was probed.</summary>
    internal bool NativeRewrap { get; private set; }

    public RewrapResult Rewrap(RewrapRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateLabel(request.Label);
        if (!CanRewrap(request.UnwrapHash, request.TargetHash))
        {
            throw new KeyStoreOperationException($"The PKCS#11 token cannot re-wrap with OAEP {request.UnwrapHash} → {request.TargetHash} (probed when the store opened).");
        }

        return Run($"re-wrap with key '{request.Label}'", session =>
        {
            Pkcs11KeyPair key = Resolve(session, request.Label);
            RequireUsage(key.Key, KeyUsage.Decrypt);
            try
            {
                return Pkcs11Rewrap.Run(session, key.PrivateKey, request);
            }
            catch (Pkcs11Exception ex) when (ex.Method == "C_UnwrapKey"
                && ex.RV is CKR.CKR_WRAPPED_KEY_INVALID or CKR.CKR_WRAPPED_KEY_LEN_RANGE or CKR.CKR_ENCRYPTED_DATA_INVALID or CKR.CKR_GENERAL_ERROR
)
            {
                // As for Decrypt: a bad wrapped key is the caller's input, not a sick token.
                throw new KeyStoreOperationException($"Key '{request.Label}' could not unwrap the secret ({ex.RV}): it is corrupt, or was wrapped for another key or OAEP hash.");
            }
        });
    }

    /// <summary>Whether CKM_GENERIC_SECRET_KEY_GEN and CKM_SHA256_HMAC worked on this token when it was probed.</summary>
    public bool CanAuthenticateRecords { get; private set; }

    public void CreateMacKey(string label)
    {
        ValidateLabel(label);
        RequireMac();
        lock (_management)
        {
            Run($"create MAC key '{label}'", session =>
            {
                if (Pkcs11MacKeys.Find(session, label).Count > 0)
                {
                    throw new KeyStoreOperationException($"The PKCS#11 token already has a secret key labelled '{label}'.");
                }

                _macKeys[label] = Pkcs11MacKeys.Generate(session, label);
                return 0;
            });
        }
    }

    public bool HasMacKey(string label)
    {
        ValidateLabel(label);
        return Run($"find MAC key '{label}'", session => Pkcs11MacKeys.Find(session, label).Count > 0);
    }

    public bool DeleteMacKey(string label)
    {
        ValidateLabel(label);
        lock (_management)
        {
            return Run($"delete MAC key '{label}'", session =>
            {
                List<IObjectHandle> objects = Pkcs11MacKeys.Find(session, label);
                foreach (IObjectHandle handle in objects)
                {
                    session.DestroyObject(handle);
                }

                _macKeys.TryRemove(label, out _);
                return objects.Count > 0;
            });
        }
    }

    public byte[] ComputeMac(string label, byte[] data)
    {
        ValidateLabel(label);
        ArgumentNullException.ThrowIfNull(data);
        RequireMac();
        return Run($"MAC with key '{label}'", session =>
        {
            if (!_macKeys.TryGetValue(label, out IObjectHandle? key))
            {
                key = Pkcs11MacKeys.Find(session, label).FirstOrDefault() ?? throw new KeyNotFoundInStoreException(label);
                _macKeys[label] = key;
            }

            return Pkcs11MacKeys.Compute(session, key, data);
        });
    }

    /// <summary>Closes the store's sessions, zeroes the PIN and releases its lease on the module.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _pool.Dispose();
        _keys.Clear();
        _module.Release();
    }

    /// <summary>Opens the token <paramref name="location"/> names, logs in with <paramref name="pin"/> and probes it.</summary>
    internal static Pkcs11KeyStore Open(Pkcs11StoreLocation location, string pin, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(pin);
        ArgumentNullException.ThrowIfNull(logger);
        Pkcs11Module module;
        try
        {
            module = Pkcs11Module.Acquire(location.ModulePath, location.ModuleEnvironment, logger);
        }
        catch (Exception ex) when (ex is not (OutOfMemoryException or KeyStoreConfigurationException))
        {
            throw new KeyStoreConfigurationException("module-path", $"'{location.ModulePath}' could not be loaded as a PKCS#11 module ({ex.Message}).");
        }

        Pkcs11KeyStore? store = null;
        try
        {
            (ISlot slot, ITokenInfo token) = SelectToken(module, location);
            var pool = new Pkcs11SessionPool(slot, Encoding.UTF8.GetBytes(pin), maxIdle: Math.Max(16, Environment.ProcessorCount * 4));
            store = new Pkcs11KeyStore(module, slot, pool, location.Describe());

            // Opening one session logs in, so a wrong PIN is reported now rather than at the first signature.
            store.Run("log in", static _ => 0);
            string probeKey = $"{module.CanonicalPath}|{slot.SlotId}|{token.SerialNumber}|{token.Label}";
            store.Capabilities = ProbedCapabilities.TryGetValue(probeKey, out KeyStoreCapabilities? known)
                ? known
                : ProbedCapabilities.GetOrAdd(probeKey, store.Run("probe capabilities", session => Pkcs11CapabilityProbe.Probe(slot, session, module.LowLevelLibrary)));
            store.NativeRewrap = ProbedRewrap.GetOrAdd(probeKey, _ => store.Run("probe native re-wrap", Pkcs11CapabilityProbe.ProbeRewrap));
            store.CanAuthenticateRecords = ProbedMac.GetOrAdd(probeKey, _ => store.Run("probe HMAC keys", Pkcs11MacKeys.Probe));
            return store;
        }
        catch
        {
            if (store is not null)
            {
                store.Dispose();
            }
            else
            {
                module.Release();
            }

            throw;
        }
    }

    private static (ISlot Slot, ITokenInfo Token) SelectToken(Pkcs11Module module, Pkcs11StoreLocation location)
    {
        var present = module.Library.GetSlotList(SlotsType.WithTokenPresent)
            .Select(slot => (Slot: slot, Token: slot.GetTokenInfo()))
            .ToList();
        var matches = present
            .Where(t => location.SlotId is null || t.Slot.SlotId == location.SlotId)
            .Where(t => location.TokenLabel is null || string.Equals(t.Token.Label.Trim(), location.TokenLabel, StringComparison.Ordinal))
            .Where(t => location.TokenSerial is null || string.Equals(t.Token.SerialNumber.Trim(), location.TokenSerial, StringComparison.Ordinal))
            .ToList();
        string field = location.TokenLabel is not null ? "token" : "slot-id";
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new KeyStoreConfigurationException(field,
                $"no token matches {location.Describe()} (tokens present: {string.Join(", ", present.Select(t => $"'{t.Token.Label.Trim()}' in slot {t.Slot.SlotId}"))})."),
            _ => throw new KeyStoreConfigurationException(field,
                $"{matches.Count} tokens match {location.Describe()}; add serial= or slot-id= to choose one."),
        };
    }

    private T Run<T>(string operation, Func<ISession, T> action)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            return _pool.Execute(action);
        }
        catch (Pkcs11Exception ex)
        {
            throw Pkcs11Failures.Translate(ex, operation);
        }
    }

    /// <summary>The key's handles from the cache, or found on the token (inside the caller's session).</summary>
    private Pkcs11KeyPair Resolve(ISession session, string label)
    {
        if (_keys.TryGetValue(label, out Pkcs11KeyPair? pair))
        {
            return pair;
        }

        pair = Pkcs11KeyObjects.Load(session, label) ?? throw new KeyNotFoundInStoreException(label);
        _keys[label] = pair;
        return pair;
    }

    private void RequireMac()
    {
        if (!CanAuthenticateRecords)
        {
            throw new KeyStoreOperationException("The PKCS#11 token cannot generate HMAC-SHA256 keys (CKM_GENERIC_SECRET_KEY_GEN / CKM_SHA256_HMAC; probed when the store opened).");
        }
    }

    private static void RequireUsage(StoredKey key, KeyUsage needed)
    {
        if (!key.Usage.HasFlag(needed))
        {
            throw new KeyStoreOperationException(
                $"Key '{key.Label}' may not be used to {(needed == KeyUsage.Sign ? "sign" : "decrypt")}: it was created for {key.Usage}.");
        }
    }

    private static void ValidateLabel(string label)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        if (label.Length > MaxLabelLength)
        {
            throw new ArgumentException($"Key labels are at most {MaxLabelLength} characters.", nameof(label));
        }
    }
}
