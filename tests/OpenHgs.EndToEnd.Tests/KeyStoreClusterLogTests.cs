using System.Text.Json.Nodes;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// <c>hgs server run</c> with a <c>cluster:</c> key store writes the cluster's member transitions to its log, with
/// their event ids: a member that cannot be opened (3004, with the retry it schedules), each failed retry (3003), and
/// the member coming up (3002). (A member going down under load, 3001, is asserted by <see cref="ClusterTests"/>.)
/// </summary>
public sealed class KeyStoreClusterLogTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_server_logs_a_cluster_member_that_starts_down_its_retries_and_its_return()
    {
        string data = Directory.CreateTempSubdirectory("openhgs-cluster-log-").FullName;
        try
        {
            await HgsInitializer.InitializeAsync(new InitRequest(data, SoftwareKeyStoreProvider.DefaultUri, "sqlite:hgs.db", "Cluster log fabric", false),
                TimeProvider.System, CancellationToken.None);

            // m2 is a second software store that cannot open yet: its sealing key file is not a key (5 bytes, not 32).
            Directory.CreateDirectory(Path.Combine(data, "keystore-m2"));
            // Written 0600 like every sealing key file: a wider mode would be refused before its length is looked at.
            OwnerOnlyFile.CreateNew(Path.Combine(data, "keystore-m2.key"), "empty"u8);
            string cluster = KeyStoreUri.Create("cluster", [],
            [
                new("member", SoftwareKeyStoreProvider.DefaultUri),
                new("member", "software:path=keystore-m2?key-file=keystore-m2.key"),
                new("retry-initial-ms", "200"),
                new("retry-max-ms", "400"),
            ]).Text;
            (HgsConfiguration.Load(data) with { KeyStore = cluster }).Save(data);

            await using var server = await ServerProcess.StartAsync(data);
            await WaitForLogAsync(server, "[3004] Key store cluster member m2");
            await WaitForLogAsync(server, "[3003] Key store cluster member m2 is still down");
            string startLines = server.Output;
            Assert.Contains("[3000] Key store cluster opened: 1 of 2 members up", startLines, StringComparison.Ordinal);
            Assert.Contains("must hold exactly 32 bytes", startLines, StringComparison.Ordinal);
            Assert.Contains("Next retry at", startLines, StringComparison.Ordinal);
            Assert.StartsWith("down; retry at ", await MemberCheckAsync(server, "m2"), StringComparison.Ordinal);

            // Give m2 the same keys as m1 (the software way of copying a token): the next retry takes it in.
            foreach (string file in Directory.EnumerateFiles(Path.Combine(data, "keystore")))
            {
                File.Copy(file, Path.Combine(data, "keystore-m2", Path.GetFileName(file)));
            }

            File.Copy(Path.Combine(data, "keystore.key"), Path.Combine(data, "keystore-m2.key"), overwrite: true);
            await WaitForLogAsync(server, "[3002] Key store cluster member m2 is up again (reopened: True)");
            Assert.StartsWith("up (", await MemberCheckAsync(server, "m2"), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task WaitForLogAsync(ServerProcess server, string line)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!server.Output.Contains(line, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline || server.HasExited)
            {
                throw new Xunit.Sdk.XunitException($"the server did not log '{line}' within {WaitLimit.TotalSeconds} s:\n{server.Output}");
            }

            await Task.Delay(50);
        }
    }

    private static async Task<string> MemberCheckAsync(ServerProcess server, string member)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(server.Url + "/healthz"));
        var health = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return health["checks"]![$"keyStore.{member}"]!.GetValue<string>();
    }
}
