using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;
using Xunit.Abstractions;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// Issue 4: three real service processes on 127.0.0.1 sharing one PostgreSQL database and one HSM cluster — two
/// SoftHSM2 tokens with the same keys, each behind its own <c>p11-kit server</c>, reached by every node through a
/// <c>cluster:</c> key store whose members name their own copy of p11-kit-client.so and their server with
/// <c>module-env=P11_KIT_SERVER_ADDRESS=…</c>. Guarded hosts load all three nodes with failover while one node is
/// SIGKILLed and then one HSM member's server is SIGKILLed (and later restarted). Every request must still succeed,
/// the surviving nodes must report the member down (<c>/healthz</c>, <c>hgs diagnose</c>) and log it, every release
/// answered 200 must have exactly one audit record, and the audit chain must verify afterwards.
/// </summary>
/// <remarks>
/// The fabric keys are made the way docs/hsm-cluster.md prescribes for members that do not replicate: <c>server init</c>
/// of the first node against the first token alone, then the token directory is copied to the second member and the
/// first node's <c>hgs.json</c> switched to the cluster URI; the other nodes join with the cluster URI directly. One copy
/// of p11-kit-client.so per member serves all three processes: each process loads its own instance of it.
/// </remarks>
public sealed class ClusterTests(ITestOutputHelper output)
{
    private const int Hosts = 4;
    private static readonly TimeSpan RetryInitial = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan RetryMaximum = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Cluster_keeps_serving_through_a_killed_node_and_a_killed_hsm_member_with_one_audit_record_per_release()
    {
        var clock = Stopwatch.StartNew();
        string root = Directory.CreateTempSubdirectory("openhgs-cluster-").FullName;
        string database = "postgres:" + PostgresServer.Instance.CreateDatabase("cluster");
        using var hsm = new P11KitTokenServers();

        // Keys on one token, by the first node's init; then the token is copied to the other member.
        var init = await HgsInitializer.InitializeAsync(new InitRequest(Path.Combine(root, "n1"), hsm.MemberUri(0), database, "Cluster fabric", false), TimeProvider.System, CancellationToken.None);
        Assert.False(init.Joined);
        hsm.ReplicateFirstToken();
        string clusterUri = hsm.ClusterUri(RetryInitial, RetryMaximum);
        (HgsConfiguration.Load(Path.Combine(root, "n1")) with { KeyStore = clusterUri }).Save(Path.Combine(root, "n1"));
        foreach (string joining in new[] { "n2", "n3" })
        {
            // Same HSM cluster, same database: the node joins without creating keys or a credential, after checking
            // that its key store (both members, which must hold the same keys) has every fabric key.
            var joined = await HgsInitializer.InitializeAsync(new InitRequest(Path.Combine(root, joining), clusterUri, database, "Cluster fabric", false), TimeProvider.System, CancellationToken.None);
            Assert.True(joined.Joined);
            Assert.Null(joined.AdminTokenPath);
            Assert.Equal(init.KeyIds.Order(), joined.KeyIds.Order());
        }

        TimeSpan setUp = clock.Elapsed;
        var nodes = new List<ServerProcess>();
        try
        {
            foreach (var started in await Task.WhenAll(new[] { "n1", "n2", "n3" }.Select(node => ServerProcess.StartAsync(Path.Combine(root, node)))))
            {
                nodes.Add(started);
            }

            TimeSpan nodesStarted = clock.Elapsed;
            string[] urls = nodes.Select(n => n.Url).ToArray();
            string token = File.ReadAllText(init.AdminTokenPath!).Trim();
            using var admin = new AdminClient(urls, token);
            var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(CancellationToken.None));
            using var owner = LocalGuardian.Create("cluster-owner", TimeProvider.System);
            byte[] transportKey = RandomNumberGenerator.GetBytes(32);
            byte[] protector = OpenHgs.Protocol.KeyProtection.KeyProtectorBuilder.Create(owner, [fabric], transportKey).ToJson();

            var clients = new List<GuardedHostClient>();
            for (int h = 0; h < Hosts; h++)
            {
                string keys = Path.Combine(root, $"host{h}", "keys");
                Directory.CreateDirectory(keys);
                await admin.AddHostKeyAsync($"host{h}", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
                string state = Path.Combine(root, $"host{h}", "state");
                var rotated = urls.Skip(h % urls.Length).Concat(urls.Take(h % urls.Length)).ToArray();
                new ClientConfiguration(rotated, rotated, keys).Save(state);
                var client = new GuardedHostClient(state);
                Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
                clients.Add(client);
            }

            // Stateless challenges across the cluster: a nonce one node minted is answered at another (every node
            // derives the same challenge-MAC key from the HSMs' row-MAC key), and once used there a third refuses it.
            using (var hostKeys = HostKeyPair.Load(Path.Combine(root, "host0", "keys")))
            {
                using var minter = new RawProtocol(urls[0]);
                using var verifier = new RawProtocol(urls[1]);
                using var third = new RawProtocol(urls[2]);
                var evidence = RawProtocol.Evidence(await minter.ChallengeAsync(), hostKeys);
                Assert.Equal(200, (await verifier.AttestAsync(evidence)).Status);
                Assert.Equal(["NonceReplayed"], RawProtocol.ReasonCodes(await third.AttestAsync(evidence)));
            }

            TimeSpan loadStart = clock.Elapsed;
            var answered = new ConcurrentBag<string>();
            var failures = new ConcurrentBag<string>();
            using var stop = new CancellationTokenSource();
            var load = clients.Select(client => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var outcome = await client.UnlockAsync(protector, CancellationToken.None);
                        if (!outcome.TransportKey.AsSpan().SequenceEqual(transportKey))
                        {
                            failures.Add("wrong transport key");
                        }

                        answered.Add(Convert.ToHexStringLower(SHA256.HashData(outcome.EgressKeyProtector)));
                    }
                    catch (Exception ex) when (ex is HgsClientException or HttpRequestException)
                    {
                        failures.Add(ex.Message);
                    }
                }
            })).ToList();

            try
            {
                // A node dies.
                await WaitUntilAsync(() => answered.Count >= 20, "releases before the node is killed");
                int beforeNodeKill = answered.Count;
                await nodes[1].KillAsync();
                await WaitUntilAsync(() => answered.Count >= beforeNodeKill + 20, "releases after the node was killed");

                // An HSM member dies: its p11-kit server and the processes serving each node's connection.
                ServerProcess[] survivors = [nodes[0], nodes[2]];
                int beforeMemberKill = answered.Count;
                hsm.Kill(0);
                await WaitUntilAsync(async () => (await MemberChecksAsync(survivors, "m1")).All(c => c.StartsWith("down", StringComparison.Ordinal)),
                    "both surviving nodes to report HSM member m1 down");
                var diagnose = await HgsCli.RunAsync(["diagnose", "--json"], new Dictionary<string, string?> { ["HGS_URL"] = string.Join(',', survivors.Select(n => n.Url)) });
                diagnose.Succeeded();
                foreach (var node in survivors)
                {
                    var report = diagnose.Json()[node.Url]!;
                    Assert.Equal("ready", report["status"]!.GetValue<string>());
                    Assert.StartsWith("down; retry at", report["checks"]!["keyStore.m1"]!.GetValue<string>(), StringComparison.Ordinal);
                    Assert.StartsWith("up (", report["checks"]!["keyStore.m2"]!.GetValue<string>(), StringComparison.Ordinal);
                }

                await WaitUntilAsync(() => answered.Count >= beforeMemberKill + 20, "releases while HSM member m1 is down");

                // The member returns: the nodes reopen it (module finalised and loaded again, module-env applied again).
                hsm.Start(0);
                await WaitUntilAsync(async () => (await MemberChecksAsync(survivors, "m1")).All(c => c.StartsWith("up", StringComparison.Ordinal)),
                    "both surviving nodes to take HSM member m1 back");
                int afterReturn = answered.Count;
                await WaitUntilAsync(() => answered.Count >= afterReturn + 10, "releases after HSM member m1 returned");
            }
            finally
            {
                stop.Cancel();
                await Task.WhenAll(load);
            }

            TimeSpan loadTime = clock.Elapsed - loadStart;
            Assert.Empty(failures);

            // Exactly one audit record per answered release (its egress key protector is unique to it).
            var audit = await admin.ReadAuditAsync(10_000, CancellationToken.None);
            var released = audit.Where(r => r.Event == "keyprotection.release" && r.Outcome == "success")
                .Select(r => System.Text.Json.JsonDocument.Parse(r.Details).RootElement.GetProperty("egressKeyProtectorSha256").GetString()!)
                .GroupBy(h => h)
                .ToDictionary(g => g.Key, g => g.Count());
            Assert.All(answered, hash => Assert.Equal(1, released.GetValueOrDefault(hash)));

            // Through the HSM cluster, before, during and after the member's outage, no transport key was in service memory.
            Assert.All(audit.Where(r => r.Event == "keyprotection.release"),
                r => Assert.Contains("\"transportKeyHandling\":\"hsm-native\"", r.Details, StringComparison.Ordinal));

            var verify = await HgsCli.RunAsync(["audit", "verify", "--json"], new Dictionary<string, string?> { ["HGS_URL"] = string.Join(',', urls), ["HGS_ADMIN_TOKEN"] = token });
            verify.Succeeded();
            Assert.True(verify.Json()["valid"]!.GetValue<bool>());

            // The service log of each surviving node tells the member's story, by event id, and never the module-env value.
            string m1Module = $"PKCS#11 module {hsm.ClientModule(0)} loaded and initialised (module-env P11_KIT_SERVER_ADDRESS)";
            foreach (var node in new[] { nodes[0], nodes[2] })
            {
                string log = node.Output;
                Assert.Contains("[3000] Key store cluster opened: 2 of 2 members up", log, StringComparison.Ordinal);
                Assert.Contains("[3001] Key store cluster member m1 is down: ", log, StringComparison.Ordinal);
                Assert.Contains("[3002] Key store cluster member m1 is up again (reopened: True)", log, StringComparison.Ordinal);
                Assert.True(CountOf(log, "[3100] " + m1Module) >= 2, $"m1's module was not loaded again after its return:\n{log}");
                Assert.DoesNotContain(log.Split('\n'), line => line.Contains("OpenHgs.", StringComparison.Ordinal) && line.Contains(hsm.Socket(0), StringComparison.Ordinal));
            }

            output.WriteLine($"{answered.Count} releases, 0 failures; HSM + init {setUp.TotalSeconds:F1} s, nodes live at {nodesStarted.TotalSeconds:F1} s, "
                + $"load from {loadStart.TotalSeconds:F1} s for {loadTime.TotalSeconds:F1} s (diagnose included), checked at {clock.Elapsed.TotalSeconds:F1} s");
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<string[]> MemberChecksAsync(IEnumerable<ServerProcess> nodes, string member)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var checks = new List<string>();
        foreach (var node in nodes)
        {
            using var response = await http.GetAsync(new Uri(node.Url + "/healthz"));
            var health = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            checks.Add(health["checks"]?[$"keyStore.{member}"]?.GetValue<string>() ?? "missing");
        }

        return [.. checks];
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > StepTimeout)
            {
                throw new TimeoutException($"Waited {StepTimeout.TotalSeconds} s for {what}.");
            }

            await Task.Delay(50);
        }
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
