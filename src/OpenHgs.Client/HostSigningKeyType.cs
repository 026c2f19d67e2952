using System.Security.Cryptography;

namespace OpenHgs.Client;

/// <summary>The kinds of host signing key <c>hgs client keygen</c> makes; each is one the service accepts (<see cref="Protocol.Wire.HostSigningKeys"/>).</summary>
public enum HostSigningKeyType
{
    /// <summary>ECDSA on P-256, signing ES256: the default.</summary>
    P256,

    /// <summary>ECDSA on P-384, signing ES384.</summary>
    P384,

    /// <summary>RSA-3072, signing RS256 (for hosts whose key tooling or policy wants RSA).</summary>
    Rsa3072,
}

/// <summary>The command-line names of <see cref="HostSigningKeyType"/> and how each key is made.</summary>
public static class HostSigningKeyTypes
{
    /// <summary>Every type with its name (<c>--signing-key</c>): the one table the lookups below read.</summary>
    private static readonly (string Name, HostSigningKeyType Type)[] Table =
        [("p256", HostSigningKeyType.P256), ("p384", HostSigningKeyType.P384), ("rsa3072", HostSigningKeyType.Rsa3072)];

    /// <summary>The accepted names, for help and messages.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Table.Select(entry => entry.Name)];

    /// <summary>The type named <paramref name="name"/> (exactly one of <see cref="Names"/>), or null.</summary>
    public static HostSigningKeyType? TryParse(string? name) =>
        Array.FindIndex(Table, entry => entry.Name == name) is var i and >= 0 ? Table[i].Type : null;

    /// <summary>A new private key of <paramref name="type"/>.</summary>
    public static AsymmetricAlgorithm Create(HostSigningKeyType type) => type switch
    {
        HostSigningKeyType.P256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
        HostSigningKeyType.P384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
        HostSigningKeyType.Rsa3072 => RSA.Create(3072),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a host signing key type"),
    };
}
