using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>Guardians shared by the tests (RSA key generation is the slow part). Tests never dispose them.</summary>
internal static class TestGuardians
{
    private static readonly string[] BothAlgorithms = [KeyProtectorAlgorithms.RsaOaep256, KeyProtectorAlgorithms.RsaOaep];
    private static readonly Lazy<LocalGuardian> LazyOwner = new(() => Make("Contoso Tenant", BothAlgorithms, TestKeys.Get(0), TestKeys.Get(1)));
    private static readonly Lazy<LocalGuardian> LazyFabricA = new(() => Make("Fabric A", BothAlgorithms, TestKeys.Get(2), TestKeys.Get(3)));
    private static readonly Lazy<LocalGuardian> LazyFabricB = new(() => Make("Fabric B", BothAlgorithms, TestKeys.Get(4), TestKeys.Get(5)));
    private static readonly Lazy<LocalGuardian> LazySoftHsmFabric = new(() => Make("Fabric SoftHSM", [KeyProtectorAlgorithms.RsaOaep], TestKeys.Get(6), TestKeys.Get(7)));
    private static readonly Lazy<LocalGuardian> LazyAttacker = new(() => Make("Mallory", BothAlgorithms, TestKeys.Get(8), TestKeys.Get(9)));

    /// <summary>The tenant that owns the test key protectors.</summary>
    public static LocalGuardian Owner => LazyOwner.Value;

    public static LocalGuardian FabricA => LazyFabricA.Value;

    public static LocalGuardian FabricB => LazyFabricB.Value;

    /// <summary>A fabric whose HSM only does SHA-1 OAEP: declares only <c>RSA-OAEP</c>.</summary>
    public static LocalGuardian SoftHsmFabric => LazySoftHsmFabric.Value;

    /// <summary>Someone with valid guardian keys of their own but no access to the owner's.</summary>
    public static LocalGuardian Attacker => LazyAttacker.Value;

    public static byte[] NewTransportKey() => RandomNumberGenerator.GetBytes(32);

    /// <summary>A guardian with fresh keys declaring <paramref name="wrapAlgorithms"/>.</summary>
    public static LocalGuardian Make(string name, IReadOnlyList<string> wrapAlgorithms, RSA? signingKey = null, RSA? encryptionKey = null)
    {
        signingKey ??= TestKeys.Next();
        encryptionKey ??= TestKeys.Next();
        var now = DateTimeOffset.UtcNow;
        var (signing, encryption) = GuardianCertificates.Issue(name, signingKey, encryptionKey, now.AddMinutes(-5), now.AddYears(1));
        return new LocalGuardian(new GuardianMetadata(name, signing, encryption, wrapAlgorithms), signingKey, encryptionKey);
    }

    /// <summary>A key protector owned by <see cref="Owner"/> for Fabric A, Fabric B and the SoftHSM fabric.</summary>
    public static (KeyProtector Kp, byte[] TransportKey) NewKeyProtector()
    {
        byte[] transportKey = NewTransportKey();
        var kp = KeyProtectorBuilder.Create(Owner, [FabricA.Metadata, FabricB.Metadata, SoftHsmFabric.Metadata], transportKey);
        return (kp, transportKey);
    }
}
