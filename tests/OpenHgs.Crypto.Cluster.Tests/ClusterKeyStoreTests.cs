using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto.Cluster.Tests.Support;

namespace OpenHgs.Crypto.Cluster.Tests;

/// <summary>
/// Load spreading, fail-over and the circuit breaker, on real software stores with identical keys behind
/// fault-injecting members (see <see cref="FaultyMember"/> for why faults are injected) and a hand-moved clock.
/// </summary>
public sealed class ClusterKeyStoreTests(SoftwareKeySet keys) : IClassFixture<SoftwareKeySet>
{
    private static readonly ClusterOptions Options = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public void Operations_are_spread_round_robin_over_the_members()
    {
        var members = Members(3);
        using ClusterKeyStore cluster = Open(members);

        for (int i = 0; i < 30; i++)
        {
            Sign(cluster);
        }

        Assert.All(members, m => Assert.Equal(10, m.Attempts));
        Assert.All(cluster.Members, s => Assert.Equal(10, s.Operations));
        Assert.All(cluster.Members, s => Assert.Equal(KeyStoreMemberState.Up, s.State));
    }

    [Fact]
    public void A_failing_member_is_marked_down_once_and_its_operations_fail_over()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;

        for (int i = 0; i < 20; i++)
        {
            Sign(cluster);
            Assert.Equal(Plaintext(i), Decrypt(cluster, i));
        }

        // Only the first operation that hit m1 found out; after that it got nothing.
        Assert.Equal(1, members[0].Attempts);
        KeyStoreMemberStatus m1 = cluster.Members[0];
        Assert.Equal(KeyStoreMemberState.Down, m1.State);
        Assert.Equal(1, m1.Failures);
        Assert.Contains("injected", m1.LastError, StringComparison.Ordinal);
        Assert.Equal(_time.GetUtcNow() + Options.RetryInitial, m1.NextRetry);
        Assert.Equal(0, m1.Operations);
        Assert.Equal(40, cluster.Members[1].Operations);
        Assert.Contains("down:", m1.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Concurrent_failures_of_one_member_count_once_and_no_operation_fails()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        int failures = 0;
        using var go = new Barrier(5);
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            go.SignalAndWait();
            for (int i = 0; i < 200; i++)
            {
                try
                {
                    Sign(cluster);
                }
                catch (KeyStoreUnavailableException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        go.SignalAndWait();
        members[0].Dead = true;
        threads.ForEach(t => t.Join());

        Assert.Equal(0, failures);
        Assert.Equal(1, cluster.Members[0].Failures);
        Assert.Equal(800, cluster.Members.Sum(m => m.Operations));
    }

    [Fact]
    public void Errors_about_the_request_are_the_callers_and_never_take_a_member_down()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);

        // A ciphertext anyone can send: it must not trip fail-over or be replayed on every member.
        Assert.Throws<KeyStoreOperationException>(() =>
            cluster.Decrypt(new DecryptRequest(SoftwareKeySet.RsaDecrypt, RandomNumberGenerator.GetBytes(256), OaepHash.Sha1)));
        Assert.Throws<KeyNotFoundInStoreException>(() =>
            cluster.SignHash(new SignHashRequest("no-such-key", SHA256.HashData("x"u8), SignatureScheme.EcdsaSha256)));
        Assert.Throws<KeyStoreOperationException>(() =>
            cluster.SignHash(new SignHashRequest(SoftwareKeySet.RsaDecrypt, SHA256.HashData("x"u8), SignatureScheme.RsaPkcs1Sha256)));

        Assert.Equal(3, members.Sum(m => m.Attempts));
        Assert.All(cluster.Members, s => Assert.Equal(KeyStoreMemberState.Up, s.State));
        Assert.All(cluster.Members, s => Assert.Equal(0, s.Failures));
    }

    [Fact]
    public void With_a_concurrency_limit_a_member_stuck_in_a_call_is_failed_over_after_the_queue_timeout()
    {
        var members = Members(2);
        var options = new ClusterOptions(Options.RetryInitial, Options.RetryMaximum, MemberConcurrency: 1) { MemberQueueTimeout = TimeSpan.FromMilliseconds(200) };
        using ClusterKeyStore cluster = ClusterKeyStore.Open(members.Select(m => m.Definition()).ToList(), options, _time, NullLogger.Instance);
        using var hang = new ManualResetEventSlim(false);
        members[0].Hang = hang;
        members[0].ResetAttempts();

        // The first operation goes to m1 and hangs there, holding m1's only slot.
        Exception? stuckFailure = null;
        var stuck = new Thread(() =>
        {
            try
            {
                Sign(cluster);
            }
            catch (Exception ex)
            {
                stuckFailure = ex;
            }
        });
        stuck.Start();
        Assert.True(SpinWait.SpinUntil(() => members[0].Attempts == 1, TimeSpan.FromSeconds(5)));
        Sign(cluster); // m2
        Sign(cluster); // m1 is busy: waits 200 ms for its turn, marks m1 down, answered by m2

        KeyStoreMemberStatus m1 = cluster.Members[0];
        Assert.Equal(KeyStoreMemberState.Down, m1.State);
        Assert.Contains("did not finish its previous operation", m1.LastError, StringComparison.Ordinal);
        Assert.Equal(2, cluster.Members[1].Operations);

        // The hanging call completes when the member answers; its result is still good.
        hang.Set();
        Assert.True(stuck.Join(TimeSpan.FromSeconds(5)));
        Assert.Null(stuckFailure);
    }

    [Fact]
    public void A_down_member_is_retried_with_doubling_backoff_and_used_again_once_it_answers()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;
        Sign(cluster);
        Sign(cluster);
        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);

        // Not due yet: no probe.
        _time.Advance(TimeSpan.FromSeconds(1.9));
        cluster.ProbeDueMembers();
        Assert.Equal(1, members[0].Attempts);

        // Due, still dead: the in-place check fails, the reopen fails, the back-off doubles 2 → 4 → 8 → 16 → 30 (cap).
        TimeSpan expected = TimeSpan.FromSeconds(2);
        foreach (int seconds in new[] { 4, 8, 16, 30, 30 })
        {
            _time.Advance(expected);
            cluster.ProbeDueMembers();
            expected = TimeSpan.FromSeconds(seconds);
            Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);
            Assert.Equal(_time.GetUtcNow() + expected, cluster.Members[0].NextRetry);
        }

        Assert.Equal(1, cluster.Members[0].Failures);
        members[0].Dead = false;
        _time.Advance(expected);
        cluster.ProbeDueMembers();

        KeyStoreMemberStatus m1 = cluster.Members[0];
        Assert.Equal(KeyStoreMemberState.Up, m1.State);
        Assert.Null(m1.NextRetry);
        long before = m1.Operations;
        for (int i = 0; i < 10; i++)
        {
            Sign(cluster);
        }

        Assert.Equal(before + 5, cluster.Members[0].Operations);

        // The next failure starts the back-off from the beginning again.
        members[0].Dead = true;
        Sign(cluster);
        Sign(cluster);
        Assert.Equal(_time.GetUtcNow() + Options.RetryInitial, cluster.Members[0].NextRetry);
        Assert.Equal(2, cluster.Members[0].Failures);
    }

    [Fact]
    public void A_member_that_cannot_recover_in_place_is_reopened_from_its_definition()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        FaultInjectingKeyStore first = members[0].Current!;
        first.Broken = true;
        Sign(cluster);
        Sign(cluster);
        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);

        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();

        Assert.Equal(KeyStoreMemberState.Up, cluster.Members[0].State);
        Assert.Equal(2, members[0].Opens);
        Assert.True(first.IsDisposed);
        Assert.NotSame(first, members[0].Current);
        Sign(cluster);
        Sign(cluster);
        Assert.Equal(1, cluster.Members[0].Operations);
    }

    [Fact]
    public void A_member_that_recovers_in_place_keeps_its_store()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;
        Sign(cluster);
        members[0].Dead = false;

        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();

        Assert.Equal(KeyStoreMemberState.Up, cluster.Members[0].State);
        Assert.Equal(1, members[0].Opens);
        Assert.False(members[0].Current!.IsDisposed);
    }

    [Fact]
    public void A_member_that_returns_with_other_keys_stays_down()
    {
        var members = Members(2);
        members[0].ReopenInner = keys.NewEmpty();
        using ClusterKeyStore cluster = Open(members);
        members[0].Current!.Broken = true;
        Sign(cluster);
        Sign(cluster);

        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();

        KeyStoreMemberStatus m1 = cluster.Members[0];
        Assert.Equal(KeyStoreMemberState.Down, m1.State);
        Assert.Contains("different keys", m1.LastError, StringComparison.Ordinal);
        Assert.Contains($"missing '{SoftwareKeySet.EcSign}'", m1.LastError, StringComparison.Ordinal);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(4), m1.NextRetry);
    }

    [Fact]
    public void A_member_that_returns_weaker_than_the_cluster_stays_down()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Current!.Broken = true;
        Sign(cluster);
        Sign(cluster);
        members[0].Capabilities = new KeyStoreCapabilities(false, false, [KeyAlgorithm.Rsa2048]);

        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();

        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[0].State);
        Assert.Contains("fewer capabilities", cluster.Members[0].LastError, StringComparison.Ordinal);
    }

    [Fact]
    public void When_every_member_is_down_operations_fail_closed_as_unavailable()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[0].Dead = true;
        members[1].Dead = true;

        var first = Assert.Throws<KeyStoreUnavailableException>(() => Sign(cluster));
        Assert.Contains("m1", first.Message, StringComparison.Ordinal);
        Assert.Contains("m2", first.Message, StringComparison.Ordinal);
        var next = Assert.Throws<KeyStoreUnavailableException>(() => Sign(cluster));
        Assert.Contains("No key store cluster member is up", next.Message, StringComparison.Ordinal);
        Assert.Equal(2, members.Sum(m => m.Attempts));
    }

    [Fact]
    public void The_cluster_opens_while_a_member_is_unreachable_and_takes_it_in_later()
    {
        var members = Members(2);
        members[1].Dead = true;
        using ClusterKeyStore cluster = Open(members);

        KeyStoreMemberStatus m2 = cluster.Members[1];
        Assert.Equal(KeyStoreMemberState.Down, m2.State);
        Assert.Equal(1, m2.Failures);
        Assert.Equal(_time.GetUtcNow() + Options.RetryInitial, m2.NextRetry);
        Sign(cluster);
        Sign(cluster);
        Assert.Equal(2, cluster.Members[0].Operations);

        members[1].Dead = false;
        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();
        Assert.Equal(KeyStoreMemberState.Up, cluster.Members[1].State);
    }

    [Fact]
    public void Opening_fails_when_no_member_opens()
    {
        var members = Members(2);
        members[0].Dead = true;
        members[1].Dead = true;

        var ex = Assert.Throws<KeyStoreUnavailableException>(() => Open(members));
        Assert.Contains("m1 (test:m1)", ex.Message, StringComparison.Ordinal);

        var misconfigured = new ClusterMemberDefinition("m1", "test:m1", () => throw new KeyStoreConfigurationException("pin-source", "environment variable 'X' is not set."));
        var config = Assert.Throws<KeyStoreConfigurationException>(() =>
            ClusterKeyStore.Open([misconfigured], Options, _time, NullLogger.Instance));
        Assert.Equal("member", config.Field);
        Assert.Contains("pin-source", config.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Members_with_different_keys_are_a_configuration_error()
    {
        var same = new FaultyMember("m1", keys.NewCopy());
        var other = new FaultyMember("m2", keys.NewEmpty());

        var ex = Assert.Throws<KeyStoreConfigurationException>(() => Open([same, other]));
        Assert.Equal("member", ex.Field);
        Assert.Contains("m2 differs from m1", ex.Message, StringComparison.Ordinal);
        Assert.True(same.Current!.IsDisposed);
        Assert.True(other.Current!.IsDisposed);
    }

    [Fact]
    public void Capabilities_are_the_intersection_and_operations_beyond_them_are_refused()
    {
        var members = Members(2);
        members[1].Capabilities = new KeyStoreCapabilities(OaepSha256: false, RsaPss: false, [KeyAlgorithm.Rsa2048, KeyAlgorithm.EcP256]);
        using ClusterKeyStore cluster = Open(members);

        Assert.False(cluster.Capabilities.OaepSha256);
        Assert.False(cluster.Capabilities.RsaPss);
        Assert.Equal(new[] { KeyAlgorithm.Rsa2048, KeyAlgorithm.EcP256 }, cluster.Capabilities.Algorithms.Order());
        Assert.Throws<KeyStoreOperationException>(() =>
            cluster.Decrypt(new DecryptRequest(SoftwareKeySet.RsaDecrypt, new byte[256], OaepHash.Sha256)));
        Assert.Equal(0, members.Sum(m => m.Attempts));
    }

    [Fact]
    public void CreateKey_is_refused_and_rolled_back_when_members_do_not_replicate()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);

        var ex = Assert.Throws<KeyStoreOperationException>(() =>
            cluster.CreateKey(new CreateKeyRequest("new-key", KeyAlgorithm.EcP256, KeyUsage.Sign)));
        Assert.Contains("do not replicate", ex.Message, StringComparison.Ordinal);
        Assert.Null(members[0].Current!.FindKey("new-key"));
        Assert.Null(members[1].Current!.FindKey("new-key"));
        Assert.All(cluster.Members, s => Assert.Equal(KeyStoreMemberState.Up, s.State));
    }

    [Fact]
    public void CreateKey_succeeds_when_members_replicate_and_the_key_is_then_served_by_all()
    {
        // Two members in front of one store stand for an HSM that replicates its keys internally (an HA group).
        Func<IKeyStore> shared = keys.NewCopy();
        IKeyStore backend = shared();
        var members = new[] { new FaultyMember("m1", () => new NonDisposing(backend)), new FaultyMember("m2", () => new NonDisposing(backend)) };
        using (backend)
        {
            using ClusterKeyStore cluster = Open(members);

            StoredKey created = cluster.CreateKey(new CreateKeyRequest("replicated", KeyAlgorithm.EcP256, KeyUsage.Sign));

            for (int i = 0; i < 4; i++)
            {
                Assert.Equal(created.SubjectPublicKeyInfo, cluster.FindKey("replicated")!.SubjectPublicKeyInfo);
            }

            Assert.Contains(cluster.ListKeys(), k => k.Label == "replicated");
            Assert.True(cluster.DeleteKey("replicated"));
            Assert.Null(cluster.FindKey("replicated"));
        }
    }

    [Fact]
    public void Key_management_needs_every_member_up()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);
        members[1].Dead = true;
        Sign(cluster);
        Sign(cluster);

        var create = Assert.Throws<KeyStoreUnavailableException>(() =>
            cluster.CreateKey(new CreateKeyRequest("new-key", KeyAlgorithm.EcP256, KeyUsage.Sign)));
        Assert.Contains("m2", create.Message, StringComparison.Ordinal);
        Assert.Throws<KeyStoreUnavailableException>(() => cluster.DeleteKey(SoftwareKeySet.EcSign));
        Assert.NotNull(members[0].Current!.FindKey(SoftwareKeySet.EcSign));
    }

    [Fact]
    public void DeleteKey_deletes_on_every_member_and_members_must_agree_afterwards()
    {
        var members = Members(2);
        using ClusterKeyStore cluster = Open(members);

        Assert.True(cluster.DeleteKey(SoftwareKeySet.EcSign));

        Assert.Null(members[0].Current!.FindKey(SoftwareKeySet.EcSign));
        Assert.Null(members[1].Current!.FindKey(SoftwareKeySet.EcSign));
        Assert.False(cluster.DeleteKey(SoftwareKeySet.EcSign));

        // The reference key set followed the delete: a member that comes back is compared with it.
        members[0].Current!.Broken = true;
        cluster.FindKey(SoftwareKeySet.RsaDecrypt);
        cluster.FindKey(SoftwareKeySet.RsaDecrypt);
        _time.Advance(Options.RetryInitial);
        cluster.ProbeDueMembers();
        Assert.Equal(KeyStoreMemberState.Up, cluster.Members[0].State);
    }

    [Fact]
    public void Dispose_disposes_every_member_store_and_later_calls_are_refused()
    {
        var members = Members(2);
        ClusterKeyStore cluster = Open(members);
        cluster.Dispose();

        Assert.All(members, m => Assert.True(m.Current!.IsDisposed));
        Assert.Throws<ObjectDisposedException>(() => Sign(cluster));
        cluster.Dispose();
    }

    [Fact]
    public void Custody_is_every_members_account_and_a_member_that_cannot_answer_is_named_unavailable()
    {
        var members = Members(3);
        using ClusterKeyStore cluster = Open(members);
        members[1].Dead = true;

        var custody = cluster.DescribeCustody(SoftwareKeySet.EcSign);

        Assert.Equal(["m1", "m2", "m3"], custody.Select(c => c.Holder.Split(':')[0]));
        Assert.Equal([KeyCustodyKind.Software, KeyCustodyKind.Unavailable, KeyCustodyKind.Software], custody.Select(c => c.Kind));
        Assert.StartsWith("m1: software key store in ", custody[0].Holder, StringComparison.Ordinal);
        Assert.Contains("injected", custody[1].Problem, StringComparison.Ordinal);
        Assert.Equal(KeyStoreMemberState.Down, cluster.Members[1].State);

        // A member already down is not asked; its last error says why nothing is known of its copy.
        var again = cluster.DescribeCustody(SoftwareKeySet.EcSign);
        Assert.StartsWith("member down: ", again[1].Problem, StringComparison.Ordinal);
        Assert.Equal(1, members[1].Attempts);
        Assert.Equal(KeyCustodyKind.Missing, cluster.DescribeCustody("no-such-key")[0].Kind);
    }

    private FaultyMember[] Members(int count) =>
        Enumerable.Range(1, count).Select(i => new FaultyMember($"m{i}", keys.NewCopy())).ToArray();

    private ClusterKeyStore Open(IReadOnlyList<FaultyMember> members)
    {
        ClusterKeyStore cluster = ClusterKeyStore.Open(members.Select(m => m.Definition()).ToList(), Options, _time, NullLogger.Instance);
        foreach (FaultyMember member in members)
        {
            member.ResetAttempts();
        }

        return cluster;
    }

    private void Sign(ClusterKeyStore cluster)
    {
        byte[] hash = SHA256.HashData(RandomNumberGenerator.GetBytes(16));
        byte[] signature = cluster.SignHash(new SignHashRequest(SoftwareKeySet.EcSign, hash, SignatureScheme.EcdsaSha256));
        Assert.True(keys.VerifyEc(hash, signature));
    }

    private byte[] Decrypt(ClusterKeyStore cluster, int i) =>
        cluster.Decrypt(new DecryptRequest(SoftwareKeySet.RsaDecrypt, keys.Encrypt(Plaintext(i)), OaepHash.Sha1));

    private static byte[] Plaintext(int i) => SHA256.HashData(BitConverter.GetBytes(i));

    /// <summary>Lets two members share one backend store; the test disposes the backend once.</summary>
    private sealed class NonDisposing(IKeyStore inner) : IKeyStore
    {
        public string Kind => inner.Kind;

        public KeyStoreCapabilities Capabilities => inner.Capabilities;

        public StoredKey CreateKey(CreateKeyRequest request) => inner.CreateKey(request);

        public StoredKey? FindKey(string label) => inner.FindKey(label);

        public IReadOnlyList<StoredKey> ListKeys() => inner.ListKeys();

        public bool DeleteKey(string label) => inner.DeleteKey(label);

        public byte[] SignHash(SignHashRequest request) => inner.SignHash(request);

        public byte[] Decrypt(DecryptRequest request) => inner.Decrypt(request);

        public IReadOnlyList<KeyCustody> DescribeCustody(string label) => inner.DescribeCustody(label);

        public void Dispose()
        {
        }
    }
}
