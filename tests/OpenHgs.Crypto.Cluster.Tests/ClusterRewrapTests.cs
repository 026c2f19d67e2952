using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto.Cluster.Tests.Support;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Cluster.Tests;

/// <summary>
/// HSM-native re-wrap through the cluster: routed like Decrypt (round-robin, fail-over, circuit breaker), offered only
/// when every member offers it. The re-wraps are real (SoftHSM2, each member a store of its own on one token); only
/// the member faults are injected (see <see cref="FaultyMember"/>).
/// </summary>
public sealed class ClusterRewrapTests : IClassFixture<ClusterRewrapTests.Token>
{
    private static readonly ClusterOptions Options = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
    private static readonly byte[] Payload = "key protector payload"u8.ToArray();
    private readonly ManualTimeProvider _time = new();
    private readonly Token _token;

    public ClusterRewrapTests(Token token) => _token = token;

    [Fact]
    public void Rewraps_are_spread_round_robin_and_each_opens_with_the_host_key()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        Assert.True(cluster.CanRewrap(OaepHash.Sha1, OaepHash.Sha1));

        for (int i = 0; i < 10; i++)
        {
            RewrapAndCheck(cluster);
        }

        Assert.All(members, m => Assert.Equal(5, m.Attempts));
    }

    [Fact]
    public void A_dead_member_fails_over_its_rewrap_and_goes_down_once()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;

        for (int i = 0; i < 6; i++)
        {
            RewrapAndCheck(cluster);
        }

        Assert.Equal(1, members[0].Attempts);
        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);
        Assert.Equal(6, cluster.Members[1].Operations);
    }

    [Fact]
    public void With_every_member_down_a_rewrap_fails_closed_as_unavailable()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;
        members[1].Dead = true;

        var error = Assert.Throws<KeyStoreUnavailableException>(() => RewrapAndCheck(cluster));
        Assert.Contains("re-wrap with key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_wrapped_secret_is_the_callers_error_and_takes_no_member_down()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        using var host = RSA.Create(2048);
        byte[] wrapped = _token.Wrap(RandomNumberGenerator.GetBytes(32));
        wrapped[7] ^= 0x55;

        Assert.Throws<KeyStoreOperationException>(() => cluster.Rewrap(Request(wrapped, host)));
        Assert.Equal(1, members.Sum(m => m.Attempts));
        Assert.All(cluster.Members, m => Assert.Equal(KeyStoreMemberState.Up, m.State));
    }

    [Fact]
    public void One_member_that_cannot_rewrap_makes_the_cluster_unable_to_and_the_request_is_refused_without_reaching_a_member()
    {
        var members = Members(2);
        members[1].NoRewrap = true;
        using ClusterKeyStore cluster = Open(members);
        using var host = RSA.Create(2048);

        Assert.False(cluster.CanRewrap(OaepHash.Sha1, OaepHash.Sha1));
        var error = Assert.Throws<KeyStoreOperationException>(() => cluster.Rewrap(Request(_token.Wrap(RandomNumberGenerator.GetBytes(32)), host)));
        Assert.Contains("Not every cluster member can re-wrap", error.Message, StringComparison.Ordinal);
        Assert.All(members, m => Assert.Equal(0, m.Attempts));
    }

    [Fact]
    public void A_member_that_comes_back_unable_to_rewrap_stays_down()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;
        RewrapAndCheck(cluster);
        RewrapAndCheck(cluster);
        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);

        members[0].Dead = false;
        members[0].NoRewrap = true;
        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();

        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);
        Assert.Contains("fewer capabilities", cluster.Members[0].LastError, StringComparison.Ordinal);
        Assert.True(cluster.CanRewrap(OaepHash.Sha1, OaepHash.Sha1));
        RewrapAndCheck(cluster);
    }

    private void RewrapAndCheck(ClusterKeyStore cluster)
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        using var host = RSA.Create(2048);
        RewrapResult result = cluster.Rewrap(Request(_token.Wrap(secret), host));
        Assert.Equal(HMACSHA256.HashData(secret, Payload), result.Mac);
        Assert.Equal(secret, host.Decrypt(result.Rewrapped, RSAEncryptionPadding.OaepSHA1));
    }

    private static RewrapRequest Request(byte[] wrapped, RSA host) =>
        new(Token.KeyLabel, wrapped, OaepHash.Sha1, Payload, host.ExportSubjectPublicKeyInfo(), OaepHash.Sha1);

    /// <summary>Every member opens its own store on the one token, so all hold the same keys and really re-wrap.</summary>
    private FaultyMember[] Members(int count) =>
        Enumerable.Range(1, count).Select(i => new FaultyMember($"m{i}", _token.SoftHsm.OpenKeyStore)).ToArray();

    private ClusterKeyStore Open(IReadOnlyList<FaultyMember> members)
    {
        ClusterKeyStore cluster = ClusterKeyStore.Open(members.Select(m => m.Definition()).ToList(), Options, _time, NullLogger.Instance);
        foreach (FaultyMember member in members)
        {
            member.ResetAttempts();
        }

        return cluster;
    }

    /// <summary>A SoftHSM2 token with one RSA decryption key.</summary>
    public sealed class Token : IDisposable
    {
        public const string KeyLabel = "kps-encryption";
        private readonly byte[] _publicKey;

        public Token()
        {
            SoftHsm = new SoftHsmToken();
            using IKeyStore store = SoftHsm.OpenKeyStore();
            _publicKey = store.CreateKey(new CreateKeyRequest(KeyLabel, KeyAlgorithm.Rsa2048, KeyUsage.Decrypt)).SubjectPublicKeyInfo;
        }

        public SoftHsmToken SoftHsm { get; }

        public byte[] Wrap(byte[] secret)
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(_publicKey, out _);
            return rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA1);
        }

        public void Dispose() => SoftHsm.Dispose();
    }
}
