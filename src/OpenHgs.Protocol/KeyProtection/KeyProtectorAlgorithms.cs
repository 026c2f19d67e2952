using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>The algorithm names of the key protector format (JOSE spellings) and what they mean.</summary>
public static class KeyProtectorAlgorithms
{
    /// <summary>RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label (JWA <c>RSA-OAEP-256</c>).</summary>
    public const string RsaOaep256 = "RSA-OAEP-256";

    /// <summary>RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label (JWA <c>RSA-OAEP</c>), for HSMs without SHA-256 OAEP.</summary>
    public const string RsaOaep = "RSA-OAEP";

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 (JWA <c>RS256</c>): endorsements and the guardian signature.</summary>
    public const string RS256 = "RS256";

    /// <summary>HMAC-SHA256 (JWA <c>HS256</c>): the transport-key signature.</summary>
    public const string HS256 = "HS256";

    /// <summary>The wrap algorithms a guardian may declare, strongest first.</summary>
    public static IReadOnlyList<string> WrapAlgorithms { get; } = [RsaOaep256, RsaOaep];

    /// <summary>True for <see cref="RsaOaep256"/> and <see cref="RsaOaep"/> (exact, case-sensitive).</summary>
    public static bool IsWrapAlgorithm(string? algorithm) => algorithm is RsaOaep256 or RsaOaep;

    /// <summary>The .NET padding for a wrap algorithm, for <see cref="RSA.Encrypt(byte[], RSAEncryptionPadding)"/> and <see cref="RSA.Decrypt(byte[], RSAEncryptionPadding)"/>.</summary>
    /// <exception cref="ArgumentException">Not a wrap algorithm.</exception>
    public static RSAEncryptionPadding GetPadding(string algorithm) => algorithm switch
    {
        RsaOaep256 => RSAEncryptionPadding.OaepSHA256,
        RsaOaep => RSAEncryptionPadding.OaepSHA1,
        _ => throw new ArgumentException($"'{algorithm}' is not a key protector wrap algorithm.", nameof(algorithm)),
    };

    /// <summary>The key store OAEP hash for a wrap algorithm, for HSM-native unwrapping.</summary>
    /// <exception cref="ArgumentException">Not a wrap algorithm.</exception>
    public static OaepHash GetOaepHash(string algorithm) => algorithm switch
    {
        RsaOaep256 => OaepHash.Sha256,
        RsaOaep => OaepHash.Sha1,
        _ => throw new ArgumentException($"'{algorithm}' is not a key protector wrap algorithm.", nameof(algorithm)),
    };
}
