using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Testing;
using Xunit.Abstractions;

namespace OpenHgs.Crypto.Cluster.Tests;

/// <summary>
/// The acceptance test of the HSM cluster, for real: two SoftHSM2 tokens with the same keys, each behind its own
/// <c>p11-kit server</c> process, one of them SIGKILLed while four threads sign, decrypt and re-wrap (HSM-native).
/// </summary>
public sealed class P11KitClusterTests : IDisposable
{
    private const int Threads = 4;

    // Short back-off so the returning member is taken in within a few seconds of its restart. One operation per member
    // at a time, as p11-kit remoting needs (see ClusterOptions.MemberConcurrency): without it, callers of p11-kit-client
    // 0.24 waiting for replies on a connection whose server died hang forever (seen here: threads parked in C_DecryptInit).
    private static readonly ClusterOptions Options = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), MemberConcurrency: 1);

    private const string RsaDecrypt = "rsa-decrypt";
    private const string EcSign = "ec-sign";

    private readonly ITestOutputHelper _output;
    private readonly P11KitTokenServers _servers = new();
    private readonly byte[] _rsaPublicKey;
    private readonly byte[] _ecPublicKey;

    /// <summary>Creates the two keys on the first token over the remoting, then copies that token to the second member.</summary>
    public P11KitClusterTests(ITestOutputHelper output)
    {
        _output = output;
        try
        {
            using (IKeyStore store = _servers.Open(0))
            {
                _rsaPublicKey = store.CreateKey(new CreateKeyRequest(RsaDecrypt, KeyAlgorithm.Rsa2048, KeyUsage.Decrypt)).SubjectPublicKeyInfo;
                _ecPublicKey = store.CreateKey(new CreateKeyRequest(EcSign, KeyAlgorithm.EcP256, KeyUsage.Sign)).SubjectPublicKeyInfo;
            }

            _servers.ReplicateFirstToken();
        }
        catch
        {
            _servers.Dispose();
            throw;
        }
    }

    [Fact]
    public void Killing_one_member_server_under_load_fails_no_operation_and_the_member_is_used_again_after_it_returns()
    {
        using ClusterKeyStore cluster = ClusterKeyStore.Open(Members(), Options, TimeProvider.System, NullLogger.Instance);
        Assert.All(cluster.Members, m => Assert.Equal(KeyStoreMemberState.Up, m.State));

        using var load = new Load(cluster, _rsaPublicKey, _ecPublicKey);
        load.Start();

        // Both members serve while both are up.
        WaitUntil(() => cluster.Members.All(m => m.Operations >= 50), TimeSpan.FromSeconds(10), "both members to serve operations");

        _servers.Kill(0);
        long killedAt = Stopwatch.GetTimestamp();
        WaitUntil(() => cluster.Members[0].State == KeyStoreMemberState.Down, TimeSpan.FromSeconds(5), "m1 to be marked down");
        long m1AtDown = cluster.Members[0].Operations;
        long m2AtDown = cluster.Members[1].Operations;

        // The outage: everything goes to m2, and m1 stays down (its retries fail) while its server is dead.
        Thread.Sleep(TimeSpan.FromSeconds(1.5));
        KeyStoreMemberStatus down = cluster.Members[0];
        Assert.Equal(KeyStoreMemberState.Down, down.State);
        Assert.Equal(m1AtDown, down.Operations);
        Assert.Equal(1, down.Failures);
        Assert.NotNull(down.LastError);
        Assert.NotNull(down.NextRetry);
        Assert.True(cluster.Members[1].Operations > m2AtDown + 50, "m2 took the load during the outage");

        _servers.Start(0);
        var restarted = Stopwatch.StartNew();
        WaitUntil(() => cluster.Members[0].State == KeyStoreMemberState.Up, Options.RetryMaximum + TimeSpan.FromSeconds(5), "m1 to be up again");
        TimeSpan recovery = restarted.Elapsed;
        WaitUntil(() => cluster.Members[0].Operations >= m1AtDown + 50, TimeSpan.FromSeconds(10), "m1 to serve operations again");

        load.Stop();
        _output.WriteLine($"m1 went down with: {down.LastError}");
        _output.WriteLine($"operations: {load.Completed} ({load.CompletedAfter(killedAt)} after the kill); per member: "
            + string.Join(", ", cluster.Members.Select(m => $"{m.Name} {m.Operations}")) + $"; m1 back {recovery.TotalMilliseconds:F0} ms after its server restarted");
        Assert.True(load.Completed > 500, $"only {load.Completed} operations completed");
        Assert.True(load.Failures.IsEmpty,
            $"{load.Failures.Count} operations failed (first: {load.Failures.FirstOrDefault()}); the cluster must retry in-flight operations on the other member.");
        Assert.True(load.CompletedAfter(killedAt) > 100, "operations went on after the kill");
        Assert.True(recovery <= Options.RetryMaximum + TimeSpan.FromSeconds(2), $"m1 came back {recovery.TotalSeconds:F1} s after its server restarted");
        Assert.Equal(KeyStoreMemberState.Up, cluster.Members[1].State);
        Assert.Equal(0, cluster.Members[1].Failures);
    }

    public void Dispose() => _servers.Dispose();

    /// <summary>The members as the cluster provider would build them from <see cref="P11KitTokenServers.ClusterUri"/>: each opened from its URI.</summary>
    private IReadOnlyList<ClusterMemberDefinition> Members() =>
        Enumerable.Range(0, _servers.Count).Select(i => new ClusterMemberDefinition($"m{i + 1}", _servers.MemberUri(i), () => _servers.Open(i))).ToList();

    private static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds} s for {what}.");
            }

            Thread.Sleep(20);
        }
    }

    /// <summary>Four threads rotating ECDSA signatures, RSA-OAEP decryptions and HSM-native re-wraps, every result checked.</summary>
    private sealed class Load(ClusterKeyStore cluster, byte[] rsaPublicKey, byte[] ecPublicKey) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentBag<long> _completedAt = [];
        private readonly List<Thread> _threads = [];

        public ConcurrentQueue<string> Failures { get; } = new();

        public int Completed => _completedAt.Count;

        public int CompletedAfter(long timestamp) => _completedAt.Count(t => t > timestamp);

        public void Start()
        {
            for (int t = 0; t < Threads; t++)
            {
                var thread = new Thread(Work) { IsBackground = true, Name = $"cluster-load-{t}" };
                _threads.Add(thread);
                thread.Start();
            }
        }

        public void Stop()
        {
            _stop.Cancel();
            var stuck = _threads.Where(t => !t.Join(TimeSpan.FromSeconds(20))).Select(t => t.Name).ToList();
            if (stuck.Count > 0)
            {
                throw new TimeoutException($"Load threads {string.Join(", ", stuck)} are stuck inside the key store.");
            }
        }

        public void Dispose()
        {
            if (!_stop.IsCancellationRequested)
            {
                Stop();
            }

            _stop.Dispose();
        }

        private void Work()
        {
            using ECDsa ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(ecPublicKey, out _);
            using RSA rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(rsaPublicKey, out _);
            using RSA host = RSA.Create(2048);
            byte[] hostKey = host.ExportSubjectPublicKeyInfo();
            byte[] payload = "key protector payload"u8.ToArray();
            for (long i = 0; !_stop.IsCancellationRequested; i++)
            {
                try
                {
                    if (i % 3 == 2)
                    {
                        byte[] secret = RandomNumberGenerator.GetBytes(32);
                        RewrapResult result = cluster.Rewrap(new RewrapRequest(RsaDecrypt, rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), OaepHash.Sha1, payload, hostKey, OaepHash.Sha1));
                        if (!result.Mac.AsSpan().SequenceEqual(HMACSHA256.HashData(secret, payload))
                            || !host.Decrypt(result.Rewrapped, RSAEncryptionPadding.OaepSHA1).AsSpan().SequenceEqual(secret))
                        {
                            Failures.Enqueue("a re-wrap returned another secret");
                        }
                    }
                    else if (i % 3 == 0)
                    {
                        byte[] hash = SHA256.HashData(BitConverter.GetBytes(i));
                        byte[] signature = cluster.SignHash(new SignHashRequest(EcSign, hash, SignatureScheme.EcdsaSha256));
                        if (!ec.VerifyHash(hash, signature))
                        {
                            Failures.Enqueue("a signature did not verify");
                        }
                    }
                    else
                    {
                        byte[] secret = RandomNumberGenerator.GetBytes(32);
                        byte[] plaintext = cluster.Decrypt(new DecryptRequest(RsaDecrypt, rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), OaepHash.Sha1));
                        if (!plaintext.AsSpan().SequenceEqual(secret))
                        {
                            Failures.Enqueue("a decryption returned other bytes");
                        }
                    }

                    _completedAt.Add(Stopwatch.GetTimestamp());
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Failures.Enqueue($"{ex.GetType().Name}: {ex.Message}");
                }
            }
        }
    }
}
