using System.Security.Cryptography;

namespace OpenHgs.Tpm;

/// <summary>Hash-algorithm helpers for <see cref="TpmAlgorithm"/>: names, digest sizes and hashing.</summary>
public static class TpmAlgorithms
{
    /// <summary>
    /// Lower-case short name used in reports and JSON ("sha1", "sha256", "sha384", "sha512", "sm3_256", …);
    /// unknown identifiers render as "alg_0xNNNN".
    /// </summary>
    public static string Name(this TpmAlgorithm algorithm) => algorithm switch
    {
        TpmAlgorithm.Sha1 => "sha1",
        TpmAlgorithm.Sha256 => "sha256",
        TpmAlgorithm.Sha384 => "sha384",
        TpmAlgorithm.Sha512 => "sha512",
        TpmAlgorithm.Sm3_256 => "sm3_256",
        TpmAlgorithm.Sha3_256 => "sha3_256",
        TpmAlgorithm.Sha3_384 => "sha3_384",
        TpmAlgorithm.Sha3_512 => "sha3_512",
        TpmAlgorithm.Rsa => "rsa",
        TpmAlgorithm.Ecc => "ecc",
        TpmAlgorithm.Aes => "aes",
        TpmAlgorithm.Null => "null",
        _ => Enum.IsDefined(algorithm) ? algorithm.ToString().ToLowerInvariant() : $"alg_0x{(ushort)algorithm:x4}",
    };

    /// <summary>Parses a name produced by <see cref="Name"/>; returns false for unknown names.</summary>
    public static bool TryParseName(string name, out TpmAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var candidate in HashAlgorithms)
        {
            if (string.Equals(candidate.Name(), name, StringComparison.OrdinalIgnoreCase))
            {
                algorithm = candidate;
                return true;
            }
        }
        algorithm = TpmAlgorithm.Error;
        return false;
    }

    /// <summary>The hash algorithms this library knows the digest size of.</summary>
    public static IReadOnlyList<TpmAlgorithm> HashAlgorithms { get; } =
    [
        TpmAlgorithm.Sha1, TpmAlgorithm.Sha256, TpmAlgorithm.Sha384, TpmAlgorithm.Sha512,
        TpmAlgorithm.Sm3_256, TpmAlgorithm.Sha3_256, TpmAlgorithm.Sha3_384, TpmAlgorithm.Sha3_512,
    ];

    /// <summary>Digest size in bytes of a hash algorithm, or 0 when it is not a known hash algorithm.</summary>
    public static int DigestSize(this TpmAlgorithm algorithm) => algorithm switch
    {
        TpmAlgorithm.Sha1 => 20,
        TpmAlgorithm.Sha256 or TpmAlgorithm.Sm3_256 or TpmAlgorithm.Sha3_256 => 32,
        TpmAlgorithm.Sha384 or TpmAlgorithm.Sha3_384 => 48,
        TpmAlgorithm.Sha512 or TpmAlgorithm.Sha3_512 => 64,
        _ => 0,
    };

    /// <summary>
    /// True when this process can compute the hash (SHA-1/2 always; SHA-3 when the platform supports it;
    /// SM3 never — .NET has no SM3).
    /// </summary>
    public static bool CanHash(this TpmAlgorithm algorithm) => algorithm switch
    {
        TpmAlgorithm.Sha1 or TpmAlgorithm.Sha256 or TpmAlgorithm.Sha384 or TpmAlgorithm.Sha512 => true,
        TpmAlgorithm.Sha3_256 => SHA3_256.IsSupported,
        TpmAlgorithm.Sha3_384 => SHA3_384.IsSupported,
        TpmAlgorithm.Sha3_512 => SHA3_512.IsSupported,
        _ => false,
    };

    /// <summary>Hashes <paramref name="data"/>; throws <see cref="NotSupportedException"/> when <see cref="CanHash"/> is false.</summary>
    public static byte[] Hash(this TpmAlgorithm algorithm, ReadOnlySpan<byte> data) => algorithm switch
    {
        TpmAlgorithm.Sha1 => SHA1.HashData(data),
        TpmAlgorithm.Sha256 => SHA256.HashData(data),
        TpmAlgorithm.Sha384 => SHA384.HashData(data),
        TpmAlgorithm.Sha512 => SHA512.HashData(data),
        TpmAlgorithm.Sha3_256 when SHA3_256.IsSupported => SHA3_256.HashData(data),
        TpmAlgorithm.Sha3_384 when SHA3_384.IsSupported => SHA3_384.HashData(data),
        TpmAlgorithm.Sha3_512 when SHA3_512.IsSupported => SHA3_512.HashData(data),
        _ => throw new NotSupportedException($"Hash algorithm {algorithm.Name()} is not available."),
    };

    /// <summary>Hashes the concatenation of two buffers (PCR extend: H(old ‖ digest)).</summary>
    public static byte[] Hash(this TpmAlgorithm algorithm, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        var buffer = new byte[first.Length + second.Length];
        first.CopyTo(buffer);
        second.CopyTo(buffer.AsSpan(first.Length));
        return algorithm.Hash(buffer);
    }

    /// <summary>The .NET <see cref="HashAlgorithmName"/> for a TPM hash algorithm (SHA-1/2 only).</summary>
    public static HashAlgorithmName ToHashAlgorithmName(this TpmAlgorithm algorithm) => algorithm switch
    {
        TpmAlgorithm.Sha1 => HashAlgorithmName.SHA1,
        TpmAlgorithm.Sha256 => HashAlgorithmName.SHA256,
        TpmAlgorithm.Sha384 => HashAlgorithmName.SHA384,
        TpmAlgorithm.Sha512 => HashAlgorithmName.SHA512,
        _ => throw new NotSupportedException($"Hash algorithm {algorithm.Name()} has no .NET equivalent."),
    };
}
