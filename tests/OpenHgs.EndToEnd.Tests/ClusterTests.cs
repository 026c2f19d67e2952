using System.Collections.Concurrent;
using System.Security.Cryptography;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// Three real service processes on 127.0.0.1 sharing one PostgreSQL database and one HSM (a SoftHSM2 token);
/// the second and third nodes join the fabric the first initialised. Guarded hosts
/// load all three with failover while one node is killed (SIGKILL). Every request must still succeed, every
/// release answered 200 must have exactly one audit record, and the audit chain must verify afterwards.
/// </summary>
public sealed class ClusterTests
{
    private const int Hosts = 4;
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task Cluster_keeps_serving_through_a_killed_node_with_one_audit_record_per_release()
    {
        string root = Directory.CreateTempSubdirectory("openhgs-cluster-").FullName;
        string database = "postgres:" + PostgresServer.Instance.CreateDatabase("cluster");
        using var hsm = new SoftHsmToken();
        var init = await HgsInitializer.InitializeAsync(new InitRequest(Path.Combine(root, "n1"), hsm.KeyStoreUri, database, "Cluster fabric", false), TimeProvider.System, CancellationToken.None);
        Assert.False(init.Joined);
        foreach (string joining in new[] { "n2", "n3" })
        {
            // Same HSM, same database: the node joins without creating keys or a credential.
            var joined = await HgsInitializer.InitializeAsync(new InitRequest(Path.Combine(root, joining), hsm.KeyStoreUri, database, "Cluster fabric", false), TimeProvider.System, CancellationToken.None);
            Assert.True(joined.Joined);
            Assert.Null(joined.AdminTokenPath);
            Assert.Equal(init.KeyIds.Order(), joined.KeyIds.Order());
        }

        var nodes = new List<ServerProcess>();
        try
        {
            foreach (string node in new[] { "n1", "n2", "n3" })
            {
                nodes.Add(await ServerProcess.StartAsync(Path.Combine(root, node)));
            }

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

            var answered = new ConcurrentBag<string>();
            var failures = new ConcurrentBag<string>();
            var stopAt = DateTime.UtcNow + LoadDuration;
            var load = clients.Select(client => Task.Run(async () =>
            {
                while (DateTime.UtcNow < stopAt)
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

            await Task.Delay(LoadDuration / 3);
            int beforeKill = answered.Count;
            await nodes[1].KillAsync();
            await Task.WhenAll(load);

            Assert.Empty(failures);
            Assert.True(beforeKill > 0 && answered.Count > beforeKill, $"load did not run on both sides of the kill ({beforeKill} then {answered.Count})");

            // Exactly one audit record per answered release (its egress key protector is unique to it).
            var audit = await admin.ReadAuditAsync(10_000, CancellationToken.None);
            var released = audit.Where(r => r.Event == "keyprotection.release" && r.Outcome == "success")
                .Select(r => System.Text.Json.JsonDocument.Parse(r.Details).RootElement.GetProperty("egressKeyProtectorSha256").GetString()!)
                .GroupBy(h => h)
                .ToDictionary(g => g.Key, g => g.Count());
            Assert.All(answered, hash => Assert.Equal(1, released.GetValueOrDefault(hash)));

            var verify = await HgsCli.RunAsync(["audit", "verify", "--json"], new Dictionary<string, string?> { ["HGS_URL"] = string.Join(',', urls), ["HGS_ADMIN_TOKEN"] = token });
            verify.Succeeded();
            Assert.True(verify.Json()["valid"]!.GetValue<bool>());

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
}
