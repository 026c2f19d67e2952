using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto.Cluster.Tests.Support;

namespace OpenHgs.Crypto.Cluster.Tests;

/// <summary>
/// Row MACs through a cluster: offered only when every member can, routed with fail-over, and only with the same MAC
/// key on every member (real software stores; the template's MAC key is copied like a cloned token).
/// </summary>
public sealed class ClusterRecordAuthenticatorTests(SoftwareKeySet keys) : IClassFixture<SoftwareKeySet>
{
    private static readonly ClusterOptions Options = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
    private static readonly byte[] Row = "settings|deny-before|0"u8.ToArray();
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void Cloned_members_give_one_mac_and_a_dead_member_fails_over()
    {
        var members = Members(2);
        using var cluster = Open(members);
        var authenticator = Assert.IsAssignableFrom<IRecordAuthenticator>(cluster.AsRecordAuthenticator());
        Assert.True(authenticator.HasMacKey(SoftwareKeySet.RowMac));
        Assert.False(authenticator.HasMacKey("no-such-mac"));

        byte[] mac = authenticator.ComputeMac(SoftwareKeySet.RowMac, Row);
        Assert.Equal(mac, authenticator.ComputeMac(SoftwareKeySet.RowMac, Row));
        members[0].Dead = true;
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(mac, authenticator.ComputeMac(SoftwareKeySet.RowMac, Row));
        }

        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);
    }

    [Fact]
    public void A_cluster_with_a_member_that_cannot_hold_mac_keys_does_not_offer_the_capability()
    {
        var members = Members(2);
        members[1].WithoutMacKeys = true;
        using var cluster = Open(members);
        Assert.False(cluster.CanAuthenticateRecords);
        Assert.Null(cluster.AsRecordAuthenticator());
        Assert.Throws<KeyStoreOperationException>(() => cluster.ComputeMac(SoftwareKeySet.RowMac, Row));
    }

    [Fact]
    public void Members_with_different_or_missing_mac_keys_are_a_configuration_error()
    {
        // m2's copy got a MAC key of its own under the same label (a token initialised separately).
        var members = Members(2);
        using (var m2 = members[1].Open())
        {
            m2.DeleteMacKey(SoftwareKeySet.RowMac);
            m2.CreateMacKey(SoftwareKeySet.RowMac);
        }

        using (var cluster = Open(members))
        {
            var different = Assert.Throws<KeyStoreConfigurationException>(() => cluster.HasMacKey(SoftwareKeySet.RowMac));
            Assert.Contains("m2 differ from m1", different.Message, StringComparison.Ordinal);
        }

        // m2 lacks it altogether.
        var others = Members(2);
        using (var m2 = others[1].Open())
        {
            m2.DeleteMacKey(SoftwareKeySet.RowMac);
        }

        using (var cluster = Open(others))
        {
            var missing = Assert.Throws<KeyStoreConfigurationException>(() => cluster.HasMacKey(SoftwareKeySet.RowMac));
            Assert.Contains("not on m2", missing.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Independent_members_cannot_create_a_mac_key_and_the_attempt_leaves_nothing()
    {
        var members = Members(2);
        using var cluster = Open(members);
        var refused = Assert.Throws<KeyStoreOperationException>(() => cluster.CreateMacKey("new-mac"));
        Assert.Contains("clone", refused.Message, StringComparison.Ordinal);
        Assert.All(members, m => Assert.False(m.Current!.HasMacKey("new-mac")));
    }

    private FaultyMember[] Members(int count) =>
        Enumerable.Range(1, count).Select(i => new FaultyMember($"m{i}", keys.NewCopy())).ToArray();

    private ClusterKeyStore Open(IReadOnlyList<FaultyMember> members) =>
        ClusterKeyStore.Open(members.Select(m => m.Definition()).ToList(), Options, _time, NullLogger.Instance);
}
