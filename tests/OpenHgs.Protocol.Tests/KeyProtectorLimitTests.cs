using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;
using Xunit.Abstractions;

namespace OpenHgs.Protocol.Tests;

public sealed class KeyProtectorLimitTests(ITestOutputHelper output)
{
    /// <summary>63 distinct guardians sharing one pair of keys (distinct certificates are what counts).</summary>
    private static List<GuardianMetadata> ManyGuardians(int count)
    {
        var keys = TestGuardians.FabricB;
        var now = DateTimeOffset.UtcNow;
        return Enumerable.Range(0, count).Select(i =>
        {
            var (signing, encryption) = GuardianCertificates.Issue($"Fabric {i:D2}", keys.SigningKey, keys.EncryptionKey, now, now.AddYears(1));
            return new GuardianMetadata($"Fabric {i:D2}", signing, encryption, ["RSA-OAEP-256"]);
        }).ToList();
    }

    [Fact]
    public void The_largest_key_protector_fits_both_limits()
    {
        var guardians = ManyGuardians(KeyProtector.MaxWrappings - 1);
        byte[] transportKey = TestGuardians.NewTransportKey();

        var kp = KeyProtectorBuilder.Create(TestGuardians.Owner, guardians, transportKey);

        Assert.Equal(KeyProtector.MaxWrappings, kp.Wrappings.Count);
        int size = kp.ToJson().Length;
        output.WriteLine($"64 wrappings with RSA-2048 certificates: {size} bytes of {KeyProtector.MaxBytes}");
        Assert.True(size <= KeyProtector.MaxBytes, $"{size} bytes");
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(KeyProtector.Parse(kp.ToJson()), TestGuardians.Owner));

        var extra = ManyGuardians(1)[0] with { Name = "One too many" };
        Assert.Equal(KeyProtectorError.Oversized, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Grant(kp, TestGuardians.Owner, extra)).Error);
        Assert.Equal(KeyProtectorError.Oversized, Assert.Throws<KeyProtectorException>(() => KeyProtectorBuilder.Create(TestGuardians.Owner, [.. guardians, extra], transportKey)).Error);
    }
}
