using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Observability;

/// <summary>
/// <c>hgs server run --log-format json --log-level debug</c>: every line the service writes is one JSON object with
/// an event id, and a flow that authenticates the admin, releases a transport key and is refused with a wrong admin
/// token leaves neither the admin token nor the transport key in the log.
/// </summary>
public sealed class JsonLogTests
{
    [Fact]
    public async Task Json_log_lines_parse_carry_event_ids_and_hold_no_secret()
    {
        using var root = new TempFolder("openhgs-jsonlog-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        byte[] transportKey;
        ServerProcess stopped;
        await using (var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--log-format", "json", "--log-level", "debug"] }))
        {
            stopped = server;
            using var admin = new AdminClient([server.Url], token);
            var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(CancellationToken.None));
            using var owner = LocalGuardian.Create("log-owner", TimeProvider.System);
            transportKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            byte[] protector = KeyProtectorBuilder.Create(owner, [fabric], transportKey).ToJson();
            string keys = root["host-keys"];
            Directory.CreateDirectory(keys);
            await admin.AddHostKeyAsync("log-host", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
            string state = root["host-state"];
            new ClientConfiguration([server.Url], [server.Url], keys).Save(state);
            using (var client = new GuardedHostClient(state))
            {
                Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
                Assert.Equal(transportKey, (await client.UnlockAsync(protector, CancellationToken.None)).TransportKey);
            }

            // A wrong token is refused (and must not be logged either).
            using var wrong = new AdminClient([server.Url], token[..^4] + "AAAA");
            await Assert.ThrowsAsync<HgsClientException>(() => wrong.ListHostsAsync(CancellationToken.None));
            Assert.Equal(0, await server.StopAsync());
        }

        var lines = stopped.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length >= 3, stopped.Output);
        var eventIds = new List<int>();
        foreach (string line in lines)
        {
            using var entry = JsonDocument.Parse(line); // every line is a JSON object
            var json = entry.RootElement;
            Assert.Equal(JsonValueKind.Object, json.ValueKind);
            Assert.True(json.TryGetProperty("Timestamp", out _), line);
            Assert.True(json.TryGetProperty("LogLevel", out _), line);
            Assert.True(json.TryGetProperty("Category", out _), line);
            Assert.True(json.TryGetProperty("Message", out _), line);
            eventIds.Add(json.GetProperty("EventId").GetInt32());
        }

        // The service's own events carry their stable ids: the development key store warning is unnamed, but the
        // release key handling at start (2010) and the audit checkpoint service's are [LoggerMessage] events.
        Assert.Contains(2010, eventIds);

        // The refused admin request is logged with who and how (event 2211), never with the token it presented.
        var refused = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("EventId").GetInt32() == 2211).ToList();
        var refusal = Assert.Single(refused);
        Assert.Contains("127.0.0.1", refusal.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.Contains("GET /admin/v1/hosts", refusal.GetProperty("Message").GetString(), StringComparison.Ordinal);
        Assert.Contains("wrong token", refusal.GetProperty("Message").GetString(), StringComparison.Ordinal);

        string all = stopped.Output;
        Assert.DoesNotContain(token, all, StringComparison.Ordinal);
        Assert.DoesNotContain(token[..^4] + "AAAA", all, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(transportKey), all, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(transportKey), all, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(System.Buffers.Text.Base64Url.EncodeToString(transportKey), all, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--log-format", "xml")]
    [InlineData("--log-level", "loud")]
    public async Task Unknown_log_options_are_bad_input(string option, string value)
    {
        using var root = new TempFolder("openhgs-jsonlog-bad-");
        var result = await HgsCli.RunAsync(["server", "run", "--data", root["service"], option, value], environment: null);
        string error = result.FailedWithOneErrorLine(2);
        Assert.Contains(value, error, StringComparison.Ordinal);
    }
}
