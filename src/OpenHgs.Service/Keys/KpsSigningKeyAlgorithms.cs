using OpenHgs.Crypto;

namespace OpenHgs.Service.Keys;

/// <summary>
/// The key types a KPS signing key may be (<c>kpsSigningKeyAlgorithm</c> in <c>DATA/hgs.json</c>,
/// <c>hgs server init --kps-signing-key</c>), and their configuration names.
/// </summary>
/// <remarks>
/// The KPS signing key issues the KPS encryption certificates and signs every key protector a release rolls. EC P-256
/// (the default for new installations) makes that guardian signature ES256 (key protector version 2): a release costs the
/// HSM one RSA private operation (the unwrap) and one P-256 signature instead of two RSA private operations. RSA keys
/// make RS256 (version 1), for tenants whose tooling predates ES256. The choice applies to signing keys created from now
/// on; keys that exist keep their type and keep working.
/// </remarks>
public static class KpsSigningKeyAlgorithms
{
    public const string EcP256 = "ec-p256";
    public const string Rsa2048 = "rsa-2048";
    public const string Rsa3072 = "rsa-3072";
    public const string Rsa4096 = "rsa-4096";

    /// <summary>For new installations: EC P-256 (ES256 rolled key protectors).</summary>
    public const KeyAlgorithm Default = KeyAlgorithm.EcP256;

    /// <summary>For data folders made before the setting existed, whose signing keys are RSA-2048: new ones stay RSA-2048.</summary>
    public const KeyAlgorithm Legacy = KeyAlgorithm.Rsa2048;

    /// <summary>Every KPS signing key type with its configuration name: the one table the lookups below read.</summary>
    private static readonly (string Name, KeyAlgorithm Algorithm)[] Table =
        [(EcP256, KeyAlgorithm.EcP256), (Rsa2048, KeyAlgorithm.Rsa2048), (Rsa3072, KeyAlgorithm.Rsa3072), (Rsa4096, KeyAlgorithm.Rsa4096)];

    /// <summary>The accepted names, for messages.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Table.Select(entry => entry.Name)];

    /// <summary>The key type named <paramref name="name"/> (exactly one of <see cref="Names"/>), or null.</summary>
    public static KeyAlgorithm? TryParse(string? name) =>
        Array.FindIndex(Table, entry => entry.Name == name) is var i and >= 0 ? Table[i].Algorithm : null;

    /// <summary>The configuration name of a KPS signing key type.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a KPS signing key type (e.g. EC P-384).</exception>
    public static string ToName(KeyAlgorithm algorithm) =>
        Array.FindIndex(Table, entry => entry.Algorithm == algorithm) is var i and >= 0
            ? Table[i].Name
            : throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "not a KPS signing key type");
}

/// <summary>How <see cref="FabricKeyManager"/> makes new keys.</summary>
/// <param name="KpsSigningKeyAlgorithm">The type of new KPS signing keys (one <see cref="KpsSigningKeyAlgorithms"/> names).</param>
public sealed record FabricKeyOptions(KeyAlgorithm KpsSigningKeyAlgorithm)
{
    /// <summary>New installations: EC P-256 KPS signing keys.</summary>
    public static FabricKeyOptions Default { get; } = new(KpsSigningKeyAlgorithms.Default);
}
