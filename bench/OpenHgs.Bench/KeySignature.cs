using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Bench;

/// <summary>The signature the service makes with a stored key, chosen by the key's type as the service chooses it.</summary>
public static class KeySignature
{
    /// <summary>RS256 (PKCS#1) for RSA, ES256/ES384 by curve for EC: its JOSE name (with the key type) and a request over a fixed digest.</summary>
    public static (string Name, SignHashRequest Request) For(StoredKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var (name, scheme, digest) = key.Algorithm switch
        {
            KeyAlgorithm.EcP256 => ("ES256", SignatureScheme.EcdsaSha256, SHA256.HashData("OpenHGS bench"u8)),
            KeyAlgorithm.EcP384 => ("ES384", SignatureScheme.EcdsaSha384, SHA384.HashData("OpenHGS bench"u8)),
            _ => ("RS256", SignatureScheme.RsaPkcs1Sha256, SHA256.HashData("OpenHGS bench"u8)),
        };
        return ($"{name} ({key.Algorithm})", new SignHashRequest(key.Label, digest, scheme));
    }
}
