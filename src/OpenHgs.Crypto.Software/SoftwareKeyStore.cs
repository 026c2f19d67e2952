using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace OpenHgs.Crypto.Software;

/// <summary>
/// The embedded development key store: one JSON file per key in a folder, the PKCS#8 private key sealed
/// with AES-256-GCM (<see cref="KeySealing"/>). Private keys exist in this process's memory while it runs,
/// which is exactly why production deployments must use an HSM instead. Each sealed blob is bound to its whole record
/// (<see cref="KeySealing"/>, format 2): editing a record's usage, algorithm or public key, or moving a blob to another
/// record, makes the key fail to load (<see cref="SealedKeyErrors"/>). Format-1 records (label bound only) still load,
/// with a warning (event 3200), and are never rewritten.
/// </summary>
public sealed partial class SoftwareKeyStore : IKeyStore, IRecordAuthenticator
{
    private static readonly KeyStoreCapabilities SoftwareCapabilities =
        new(OaepSha256: true, RsaPss: true, [KeyAlgorithm.Rsa2048, KeyAlgorithm.Rsa3072, KeyAlgorithm.Rsa4096, KeyAlgorithm.EcP256, KeyAlgorithm.EcP384]);

    private readonly string _directory;
    private readonly KeySealing _sealing;
    private readonly ConcurrentDictionary<string, LoadedKey> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _macKeys = new(StringComparer.Ordinal);
    private readonly Lock _writeLock = new();
    private readonly ILogger _logger;

    internal SoftwareKeyStore(string directory, KeySealing sealing, ILogger logger)
    {
        _directory = directory;
        _sealing = sealing;
        _logger = logger;
        OwnerOnlyFile.CreateDirectory(directory);
    }

    public string Kind => "software";

    public KeyStoreCapabilities Capabilities => SoftwareCapabilities;

    public StoredKey CreateKey(CreateKeyRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string path = PathFor(request.Label);
        lock (_writeLock)
        {
            if (File.Exists(path))
            {
                throw new KeyStoreOperationException($"A key labelled '{request.Label}' already exists.");
            }

            using AsymmetricAlgorithm key = request.Algorithm.IsRsa()
                ? RSA.Create(request.Algorithm.RsaBits())
                : ECDsa.Create(request.Algorithm == KeyAlgorithm.EcP256 ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384);
            byte[] pkcs8 = key.ExportPkcs8PrivateKey();
            try
            {
                var stored = new StoredKey(request.Label, request.Algorithm, request.Usage, key.ExportSubjectPublicKeyInfo());
                byte[] sealedKey = _sealing.Seal(SealedRecord.ForKeyPair(stored.Label, stored.Algorithm, stored.Usage, stored.SubjectPublicKeyInfo), pkcs8);
                var file = new KeyFile(stored.Label, stored.Algorithm, stored.Usage, stored.SubjectPublicKeyInfo, sealedKey, KeySealing.CurrentFormat, _sealing.KeyId);
                using (var stream = OwnerOnlyFile.OpenNew(path))
                {
                    JsonSerializer.Serialize(stream, file, KeyFileJson.Default.KeyFile);
                }

                return stored;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(pkcs8);
            }
        }
    }

    public StoredKey? FindKey(string label) => TryLoad(label)?.Stored;

    /// <summary>A key file (key pair or MAC key) is software custody: sealed at rest, in this process's memory in use.</summary>
    public IReadOnlyList<KeyCustody> DescribeCustody(string label)
    {
        string holder = $"software key store in {_directory}";
        return [new KeyCustody(label, holder, File.Exists(PathFor(label)) || HasMacKey(label) ? KeyCustodyKind.Software : KeyCustodyKind.Missing)];
    }

    public IReadOnlyList<StoredKey> ListKeys() =>
        Directory.EnumerateFiles(_directory, "*.key.json")
            .Select(f => Path.GetFileName(f)[..^".key.json".Length])
            .Select(FindKey)
            .OfType<StoredKey>()
            .OrderBy(k => k.Label, StringComparer.Ordinal)
            .ToList();

    public bool DeleteKey(string label)
    {
        string path = PathFor(label);
        lock (_writeLock)
        {
            if (_cache.TryRemove(label, out var loaded))
            {
                loaded.Key.Dispose();
            }

            if (!File.Exists(path))
            {
                return false;
            }

            File.Delete(path);
            return true;
        }
    }

    public byte[] SignHash(SignHashRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Require(request.Label, KeyUsage.Sign);
        return (loaded.Key, request.Scheme) switch
        {
            (RSA rsa, SignatureScheme.RsaPkcs1Sha256) => rsa.SignHash(request.Hash, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            (RSA rsa, SignatureScheme.RsaPssSha256) => rsa.SignHash(request.Hash, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            (ECDsa ec, SignatureScheme.EcdsaSha256 or SignatureScheme.EcdsaSha384) => ec.SignHash(request.Hash),
            _ => throw new KeyStoreOperationException($"Key '{request.Label}' ({loaded.Stored.Algorithm}) cannot sign with {request.Scheme}."),
        };
    }

    public byte[] Decrypt(DecryptRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Require(request.Label, KeyUsage.Decrypt);
        if (loaded.Key is not RSA rsa)
        {
            throw new KeyStoreOperationException($"Key '{request.Label}' ({loaded.Stored.Algorithm}) cannot decrypt.");
        }

        try
        {
            return rsa.Decrypt(request.Ciphertext, request.Hash == OaepHash.Sha256 ? RSAEncryptionPadding.OaepSHA256 : RSAEncryptionPadding.OaepSHA1);
        }
        catch (CryptographicException ex)
        {
            throw new KeyStoreOperationException($"Key '{request.Label}' could not decrypt the ciphertext (wrong key or corrupted data).", ex);
        }
    }

    public bool CanAuthenticateRecords => true;

    /// <summary>A sealed 32-byte secret in <c>LABEL.mac.json</c> (its record kind is sealed with it, so it cannot pass for a key pair's blob).</summary>
    public void CreateMacKey(string label)
    {
        string path = MacPathFor(label);
        lock (_writeLock)
        {
            if (File.Exists(path))
            {
                throw new KeyStoreOperationException($"A MAC key labelled '{label}' already exists.");
            }

            byte[] secret = RandomNumberGenerator.GetBytes(32);
            try
            {
                var file = new MacKeyFile(label, _sealing.Seal(SealedRecord.ForMacKey(label), secret), KeySealing.CurrentFormat, _sealing.KeyId);
                using var stream = OwnerOnlyFile.OpenNew(path);
                JsonSerializer.Serialize(stream, file, KeyFileJson.Default.MacKeyFile);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }

    public bool HasMacKey(string label) => File.Exists(MacPathFor(label));

    public bool DeleteMacKey(string label)
    {
        string path = MacPathFor(label);
        lock (_writeLock)
        {
            if (_macKeys.TryRemove(label, out var secret))
            {
                CryptographicOperations.ZeroMemory(secret);
            }

            if (!File.Exists(path))
            {
                return false;
            }

            File.Delete(path);
            return true;
        }
    }

    public byte[] ComputeMac(string label, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return HMACSHA256.HashData(LoadMacKey(label), data);
    }

    public void Dispose()
    {
        foreach (var loaded in _cache.Values)
        {
            loaded.Key.Dispose();
        }

        foreach (var secret in _macKeys.Values)
        {
            CryptographicOperations.ZeroMemory(secret);
        }

        _macKeys.Clear();
        _cache.Clear();
        _sealing.Dispose();
    }

    private LoadedKey Require(string label, KeyUsage usage)
    {
        var loaded = TryLoad(label) ?? throw new KeyNotFoundInStoreException(label);
        return loaded.Stored.Usage.HasFlag(usage)
            ? loaded
            : throw new KeyStoreOperationException($"Key '{label}' is not allowed to {usage.ToString().ToLowerInvariant()} (usage: {loaded.Stored.Usage}).");
    }

    private LoadedKey? TryLoad(string label)
    {
        if (_cache.TryGetValue(label, out var cached))
        {
            return cached;
        }

        string path = PathFor(label);
        if (!File.Exists(path))
        {
            return null;
        }

        var file = JsonSerializer.Deserialize(File.ReadAllBytes(path), KeyFileJson.Default.KeyFile)
            ?? throw new KeyStoreUnavailableException($"Key file for '{label}' is empty.");
        if (file.Label != label)
        {
            throw new KeyStoreUnavailableException($"Key file for '{label}' names another key ('{file.Label}').");
        }

        byte[] pkcs8 = _sealing.Open(SealedRecord.ForKeyPair(file.Label, file.Algorithm, file.Usage, file.SubjectPublicKeyInfo), file.Format, file.SealingKeyId, file.Sealed);
        WarnIfFormatOne(label, file.Format);
        try
        {
            AsymmetricAlgorithm key = file.Algorithm.IsRsa() ? RSA.Create() : ECDsa.Create();
            key.ImportPkcs8PrivateKey(pkcs8, out _);
            if (!key.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(file.SubjectPublicKeyInfo))
            {
                key.Dispose();
                throw new KeyStoreUnavailableException($"Key file for '{label}' holds a public key that does not match its private key.");
            }

            var loaded = new LoadedKey(new StoredKey(file.Label, file.Algorithm, file.Usage, file.SubjectPublicKeyInfo), key);
            if (!_cache.TryAdd(label, loaded))
            {
                key.Dispose();
                return _cache[label];
            }

            return loaded;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private byte[] LoadMacKey(string label)
    {
        if (_macKeys.TryGetValue(label, out var cached))
        {
            return cached;
        }

        string path = MacPathFor(label);
        if (!File.Exists(path))
        {
            throw new KeyNotFoundInStoreException(label);
        }

        var file = JsonSerializer.Deserialize(File.ReadAllBytes(path), KeyFileJson.Default.MacKeyFile)
            ?? throw new KeyStoreUnavailableException($"MAC key file for '{label}' is empty.");
        if (file.Label != label)
        {
            throw new KeyStoreUnavailableException($"MAC key file for '{label}' names another key ('{file.Label}').");
        }

        byte[] secret = _sealing.Open(SealedRecord.ForMacKey(file.Label), file.Format, file.SealingKeyId, file.Sealed);
        WarnIfFormatOne(label, file.Format);
        if (secret.Length != 32)
        {
            CryptographicOperations.ZeroMemory(secret);
            throw new KeyStoreUnavailableException($"MAC key file for '{label}' does not hold a 32-byte key.");
        }

        if (!_macKeys.TryAdd(label, secret))
        {
            CryptographicOperations.ZeroMemory(secret);
            return _macKeys[label];
        }

        return secret;
    }

    private string MacPathFor(string label) => PathFor(label)[..^".key.json".Length] + ".mac.json";

    private void WarnIfFormatOne(string label, int format)
    {
        if (format == KeySealing.FormatOne)
        {
            LogFormatOne(_logger, label);
        }
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning, Message = "Software key '{Label}' is sealed in format 1, which binds only its label (not its usage): it is read as it is; re-create the development key store to seal every key in format 2")]
    private static partial void LogFormatOne(ILogger logger, string label);

    private string PathFor(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        return LabelPattern().IsMatch(label)
            ? Path.Combine(_directory, label + ".key.json")
            : throw new KeyStoreOperationException($"Key label '{label}' may only hold letters, digits, '.', '_' and '-' (1-64 characters).");
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex LabelPattern();

    private sealed record LoadedKey(StoredKey Stored, AsymmetricAlgorithm Key);
}

/// <summary>A key pair's file. <paramref name="Format"/> is absent (1) in files written before format 2; <paramref name="SealingKeyId"/> is format 2's.</summary>
internal sealed record KeyFile(string Label, KeyAlgorithm Algorithm, KeyUsage Usage, byte[] SubjectPublicKeyInfo, byte[] Sealed, int Format = KeySealing.FormatOne, byte[]? SealingKeyId = null);

/// <summary>A MAC key's file; format fields as <see cref="KeyFile"/>.</summary>
internal sealed record MacKeyFile(string Label, byte[] Sealed, int Format = KeySealing.FormatOne, byte[]? SealingKeyId = null);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(KeyFile))]
[System.Text.Json.Serialization.JsonSerializable(typeof(MacKeyFile))]
internal sealed partial class KeyFileJson : System.Text.Json.Serialization.JsonSerializerContext;
