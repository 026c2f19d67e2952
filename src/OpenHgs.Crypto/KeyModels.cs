namespace OpenHgs.Crypto;

/// <summary>Key types the stores can generate.</summary>
public enum KeyAlgorithm
{
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcP256,
    EcP384,
}

/// <summary>What a key may be used for; a store enforces it (CKA_SIGN / CKA_DECRYPT).</summary>
[Flags]
public enum KeyUsage
{
    None = 0,
    Sign = 1,
    Decrypt = 2,
}

/// <summary>How a digest is turned into a signature.</summary>
public enum SignatureScheme
{
    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 (JWS RS256).</summary>
    RsaPkcs1Sha256,

    /// <summary>RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (JWS PS256).</summary>
    RsaPssSha256,

    /// <summary>ECDSA over a SHA-256 digest, signature as IEEE P1363 r‖s (JWS ES256).</summary>
    EcdsaSha256,

    /// <summary>ECDSA over a SHA-384 digest, r‖s (JWS ES384).</summary>
    EcdsaSha384,
}

/// <summary>The OAEP hash (and MGF1 hash; both are always the same here).</summary>
public enum OaepHash
{
    Sha1,
    Sha256,
}

/// <summary>A key pair in a store: its label, type, usage and public key (DER SubjectPublicKeyInfo).</summary>
public sealed record StoredKey(string Label, KeyAlgorithm Algorithm, KeyUsage Usage, byte[] SubjectPublicKeyInfo);

/// <summary>Request to generate a key pair.</summary>
public sealed record CreateKeyRequest(string Label, KeyAlgorithm Algorithm, KeyUsage Usage);

/// <summary>Request to sign a digest with the key labelled <paramref name="Label"/>.</summary>
public sealed record SignHashRequest(string Label, byte[] Hash, SignatureScheme Scheme);

/// <summary>Request to RSA-OAEP-decrypt <paramref name="Ciphertext"/> with the key labelled <paramref name="Label"/>.</summary>
public sealed record DecryptRequest(string Label, byte[] Ciphertext, OaepHash Hash);

/// <summary>What a store can really do, found by trying it when the store opens.</summary>
/// <param name="OaepSha256">RSA-OAEP with SHA-256/MGF1-SHA-256 (SoftHSM2 2.6 only does SHA-1).</param>
/// <param name="RsaPss">RSASSA-PSS signatures.</param>
/// <param name="Algorithms">Key types the store can generate.</param>
public sealed record KeyStoreCapabilities(bool OaepSha256, bool RsaPss, IReadOnlyList<KeyAlgorithm> Algorithms)
{
    /// <summary>The OAEP hashes the store can decrypt with, strongest first.</summary>
    public IReadOnlyList<OaepHash> OaepHashes => OaepSha256 ? [OaepHash.Sha256, OaepHash.Sha1] : [OaepHash.Sha1];
}
