using System.Collections.Concurrent;
using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>
/// A minimal in-memory <see cref="IKeyStore"/> so tests can drive the real <see cref="KeyStoreRsa"/> adapter the
/// service uses for HSM keys (SHA-256 digests only, OAEP only, no private export).
/// </summary>
internal sealed class FakeKeyStore : IKeyStore
{
    private readonly ConcurrentDictionary<string, (RSA Key, StoredKey Info)> _keys = new(StringComparer.Ordinal);

    public string Kind => "fake";

    public KeyStoreCapabilities Capabilities { get; } = new(OaepSha256: false, RsaPss: false, [KeyAlgorithm.Rsa2048]);

    public StoredKey CreateKey(CreateKeyRequest request)
    {
        var key = TestKeys.Next();
        var info = new StoredKey(request.Label, request.Algorithm, request.Usage, key.ExportSubjectPublicKeyInfo());
        return _keys.TryAdd(request.Label, (key, info)) ? info : throw new InvalidOperationException("label exists");
    }

    public StoredKey? FindKey(string label) => _keys.TryGetValue(label, out var entry) ? entry.Info : null;

    public IReadOnlyList<StoredKey> ListKeys() => _keys.Values.Select(e => e.Info).ToList();

    public bool DeleteKey(string label) => _keys.TryRemove(label, out _);

    public byte[] SignHash(SignHashRequest request)
    {
        var (key, info) = _keys[request.Label];
        Assert.True(info.Usage.HasFlag(KeyUsage.Sign), "key not allowed to sign");
        Assert.Equal(SignatureScheme.RsaPkcs1Sha256, request.Scheme);
        return key.SignHash(request.Hash, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public byte[] Decrypt(DecryptRequest request)
    {
        var (key, info) = _keys[request.Label];
        Assert.True(info.Usage.HasFlag(KeyUsage.Decrypt), "key not allowed to decrypt");

        // Like SoftHSM2 2.6: SHA-1 OAEP only.
        return request.Hash == OaepHash.Sha1
            ? key.Decrypt(request.Ciphertext, RSAEncryptionPadding.OaepSHA1)
            : throw new KeyStoreOperationException("CKM_RSA_PKCS_OAEP with SHA-256 is not supported by this token.");
    }

    public IReadOnlyList<KeyCustody> DescribeCustody(string label) =>
        [new KeyCustody(label, "in-memory fake", _keys.ContainsKey(label) ? KeyCustodyKind.Software : KeyCustodyKind.Missing)];

    public void Dispose()
    {
        foreach (var entry in _keys.Values)
        {
            entry.Key.Dispose();
        }
    }
}
