using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>The algorithm names of the key protector format (JOSE spellings) and what they mean.</summary>
public static class KeyProtectorAlgorithms
{
    /// <summary>RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label (JWA <c>RSA-OAEP-256</c>).</summary>
    public const string RsaOaep256 = "RSA-OAEP-256";

    /// <summary>RSAES-OAEP with SHA-1 and MGF1-SHA-1, empty label (JWA <c>RSA-OAEP</c>), for HSMs without SHA-256 OAEP.</summary>
    public const string RsaOaep = "RSA-OAEP";

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256 (JWA <c>RS256</c>): endorsements, and the guardian signature by an RSA signing key.</summary>
    public const string RS256 = "RS256";

    /// <summary>
    /// ECDSA on P-256 with SHA-256, signature IEEE P1363 <c>r‖s</c> (64 bytes, JWA <c>ES256</c>): the guardian signature by
    /// an EC P-256 signing key (key protector version 2). Never an endorsement.
    /// </summary>
    public const string ES256 = "ES256";

    /// <summary>Length of an ES256 value: r and s, 32 bytes each.</summary>
    public const int Es256Bytes = 64;

    /// <summary>The guardian signature algorithms, in the order of the key protector versions that introduced them.</summary>
    public static IReadOnlyList<string> GuardianSignatureAlgorithms { get; } = [RS256, ES256];

    /// <summary>
    /// The guardian signature algorithm a signing key of <paramref name="keyType"/> makes (RS256 for RSA, ES256 for P-256),
    /// or null for a key that signs nothing here. The one table the verifier and the builder share.
    /// </summary>
    internal static string? SignatureAlgorithmFor(GuardianKeyType keyType) => keyType switch
    {
        GuardianKeyType.Rsa => RS256,
        GuardianKeyType.EcP256 => ES256,
        _ => null,
    };

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
