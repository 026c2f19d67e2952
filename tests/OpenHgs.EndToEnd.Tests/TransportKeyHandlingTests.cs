using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>Where releases handle the VM's transport key (release-key-handling), through real servers, on SQLite.</summary>
public sealed class TransportKeyHandlingTestsOnSqlite() : TransportKeyHandlingTests(DatabaseKind.Sqlite);

/// <summary>The same with the cluster database.</summary>
public sealed class TransportKeyHandlingTestsOnPostgres() : TransportKeyHandlingTests(DatabaseKind.Postgres);

/// <summary>
/// <c>release-key-handling</c>: an HSM cluster re-wraps inside its members (also with one killed); <c>hsm-only</c> with a
/// store that cannot re-wrap, or whose re-wrap the token refuses, refuses the release with its own code and audits it,
/// never falling back to memory; <c>allow-memory</c> (set in hgs.json by init, or overridden by run) does fall back.
/// </summary>
public abstract class TransportKeyHandlingTests(DatabaseKind database)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Releases_through_a_cluster_of_two_tokens_stay_in_the_hsm_also_with_a_member_killed()
    {
        using var root = new TempFolder("openhgs-rewrap-cluster-");
        string data = root["node"];
        using var hsm = new P11KitTokenServers();

        // hgs server init against the first token (it makes the keys), with no --release-key-handling: a store that
        // re-wraps defaults to hsm-only, written to hgs.json. Then the token is copied and the node switched to the cluster.
        var init = (await HgsCli.RunAsync(["server", "init", "--data", data, "--key-store", hsm.MemberUri(0), "--json", .. DatabaseArguments()], environment: null)).Succeeded();
        Assert.Equal("hsm-only", init.Json()["releaseKeyHandling"]!.GetValue<string>());
        Assert.Equal(ReleaseKeyHandling.HsmOnly, HgsConfiguration.Load(data).ReleaseKeyHandlingMode);
        hsm.ReplicateFirstToken();
        (HgsConfiguration.Load(data) with { KeyStore = hsm.ClusterUri(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2)) }).Save(data);

        await using var server = await ServerProcess.StartAsync(data);
        using var admin = new AdminClient([server.Url], File.ReadAllText(Path.Combine(data, "admin.token")).Trim());
        var (client, protector, transportKey) = await AttestedHostAsync(admin, server.Url, root["host"]);
        using (client)
        {
            Assert.Equal("hsm-only (hsm-native re-wrap)", (await HealthAsync(server.Url))["releaseKeyHandling"]);
            for (int i = 0; i < 4; i++)
            {
                Assert.Equal(transportKey, (await client.UnlockAsync(protector, CancellationToken.None)).TransportKey);
            }

            // Member m1's p11-kit server dies: releases go on through m2, still inside the HSM.
            hsm.Kill(0);
            var deadline = DateTime.UtcNow + StepTimeout;
            int afterKill = 0;
            while ((await HealthAsync(server.Url))["keyStore.m1"].StartsWith("up", StringComparison.Ordinal) || afterKill < 4)
            {
                Assert.True(DateTime.UtcNow < deadline, "m1 was not reported down while releasing");
                Assert.Equal(transportKey, (await client.UnlockAsync(protector, CancellationToken.None)).TransportKey);
                afterKill++;
            }
        }

        var releases = (await admin.ReadAuditAsync(100, CancellationToken.None)).Where(r => r.Event == "keyprotection.release").ToList();
        Assert.True(releases.Count >= 8, $"{releases.Count} release records");
        Assert.All(releases, r =>
        {
            Assert.Equal("success", r.Outcome);
            Assert.Contains("\"transportKeyHandling\":\"hsm-native\"", r.Details, StringComparison.Ordinal);
            Assert.Contains("\"releaseKeyHandling\":\"hsm-only\"", r.Details, StringComparison.Ordinal);
        });
    }

    [Fact]
    [Trait("Attack", "A64")]
    public async Task Hsm_only_with_a_store_that_cannot_rewrap_refuses_the_release_with_its_code_and_audits_it_and_run_can_override()
    {
        using var root = new TempFolder("openhgs-rewrap-software-");
        string data = root["node"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--release-key-handling", "hsm-only", .. DatabaseArguments()], environment: null)).Succeeded();
        Assert.Contains("\"releaseKeyHandling\": \"hsm-only\"", File.ReadAllText(HgsConfiguration.PathIn(data)), StringComparison.Ordinal);
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        byte[] protector;
        byte[] transportKey;
        string hostRoot = root["host"];

        await using (var server = await ServerProcess.StartAsync(data))
        {
            using var admin = new AdminClient([server.Url], token);
            GuardedHostClient client;
            (client, protector, transportKey) = await AttestedHostAsync(admin, server.Url, hostRoot);
            using (client)
            {
                Assert.StartsWith("hsm-only (the key store cannot re-wrap", (await HealthAsync(server.Url))["releaseKeyHandling"], StringComparison.Ordinal);
                var refused = await Assert.ThrowsAsync<HgsClientException>(() => client.UnlockAsync(protector, CancellationToken.None));
                Assert.Equal(("TransportKeyHsmOnly", (int?)503), (refused.Code, refused.HttpStatus));
            }

            var record = (await admin.ReadAuditAsync(5, CancellationToken.None)).First(r => r.Event == "keyprotection.release");
            Assert.Equal(("refused", "TransportKeyHsmOnly"), (record.Outcome, record.Reason));
            Assert.Contains("\"releaseKeyHandling\":\"hsm-only\"", record.Details, StringComparison.Ordinal);
            Assert.Contains("\"transportKeyHandling\":\"refused\"", record.Details, StringComparison.Ordinal);
            Assert.Contains(server.Output.Split('\n'), l => l.Contains("every key release is refused (TransportKeyHsmOnly)", StringComparison.Ordinal));

            // hgs diagnose shows the mode, and that this node refuses every release.
            var diagnose = (await HgsCli.RunAsync(["diagnose", "--json"], new Dictionary<string, string?> { ["HGS_URL"] = server.Url })).Succeeded();
            Assert.StartsWith("hsm-only (the key store cannot re-wrap", diagnose.Json()[server.Url]!["checks"]!["releaseKeyHandling"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        // hgs server run --release-key-handling allow-memory overrides the file for this run (a deliberate operator choice).
        await using (var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--release-key-handling", "allow-memory"] }))
        {
            using var admin = new AdminClient([server.Url], token);
            new ClientConfiguration([server.Url], [server.Url], Path.Combine(hostRoot, "keys")).Save(Path.Combine(hostRoot, "state"));
            using var client = new GuardedHostClient(Path.Combine(hostRoot, "state"));
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
            Assert.Equal(transportKey, (await client.UnlockAsync(protector, CancellationToken.None)).TransportKey);
            var record = (await admin.ReadAuditAsync(5, CancellationToken.None)).First(r => r.Event == "keyprotection.release");
            Assert.Equal("success", record.Outcome);
            Assert.Contains("\"releaseKeyHandling\":\"allow-memory\"", record.Details, StringComparison.Ordinal);
            Assert.Contains("\"transportKeyHandling\":\"memory\"", record.Details, StringComparison.Ordinal);
        }

        // The file was not changed by the override.
        Assert.Equal(ReleaseKeyHandling.HsmOnly, HgsConfiguration.Load(data).ReleaseKeyHandlingMode);
    }

    [Fact]
    [Trait("Attack", "A64")]
    public async Task Hsm_only_refuses_a_release_whose_native_rewrap_the_token_refuses_and_allow_memory_decides_in_memory()
    {
        // SoftHSM2 re-wraps, so init defaults to hsm-only. The owner signs a key protector whose fabric wrapping does
        // not unwrap (a broken or hostile owner); the token refuses C_UnwrapKey for real.
        await using var service = await ServiceHarness.StartAsync(StoreKind.SoftHsm, database);
        Assert.Equal(ReleaseKeyHandling.HsmOnly, HgsConfiguration.Load(service.DataDirectory).ReleaseKeyHandlingMode);
        var (bad, certificate) = await BadWrappingAsync(service);
        using var raw = new RawProtocol(service.Url);

        var answer = await raw.ReleaseAsync(bad, certificate);
        Assert.Equal((403, "TransportKeyRewrapRefused"), (answer.Status, answer.Code));
        Assert.False(answer.Body.TryGetProperty("transportKey", out _));
        var record = (await service.Admin.ReadAuditAsync(5, CancellationToken.None)).First(r => r.Event == "keyprotection.release");
        Assert.Equal(("refused", "TransportKeyRewrapRefused"), (record.Outcome, record.Reason));
        Assert.Contains("\"transportKeyHandling\":\"refused\"", record.Details, StringComparison.Ordinal);

        // The same key protector where memory is allowed: the in-memory path decides (and refuses it with its own code).
        await using var lenient = await ServiceHarness.StartAsync(StoreKind.SoftHsm, database, releaseKeyHandling: ReleaseKeyHandling.AllowMemory);
        var (again, lenientCertificate) = await BadWrappingAsync(lenient);
        using var lenientRaw = new RawProtocol(lenient.Url);
        var fallback = await lenientRaw.ReleaseAsync(again, lenientCertificate);
        Assert.Equal((403, "KeyProtectorTransportKeyUnwrapFailed"), (fallback.Status, fallback.Code));
        var fallbackRecord = (await lenient.Admin.ReadAuditAsync(5, CancellationToken.None)).First(r => r.Event == "keyprotection.release");
        Assert.Contains("\"transportKeyHandling\":\"memory-after-native-refusal\"", fallbackRecord.Details, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Software_store_defaults_to_allow_memory_and_a_bad_value_in_hgs_json_stops_the_start_naming_the_field()
    {
        using var root = new TempFolder("openhgs-rewrap-default-");
        string data = root["node"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", .. DatabaseArguments()], environment: null)).Succeeded();
        Assert.Equal(ReleaseKeyHandling.AllowMemory, HgsConfiguration.Load(data).ReleaseKeyHandlingMode);

        File.WriteAllText(HgsConfiguration.PathIn(data), File.ReadAllText(HgsConfiguration.PathIn(data)).Replace("\"allow-memory\"", "\"memory-please\"", StringComparison.Ordinal));
        var refused = await HgsCli.RunAsync(["server", "run", "--data", data, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}"], environment: null);
        Assert.Contains("releaseKeyHandling 'memory-please'", refused.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        var badOption = await HgsCli.RunAsync(["server", "run", "--data", data, "--release-key-handling", "sometimes"], environment: null);
        Assert.Contains("--release-key-handling: 'sometimes'", badOption.FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    private string[] DatabaseArguments() =>
        database == DatabaseKind.Postgres ? ["--database", PostgresServer.Instance.CreateDatabase("rewrap")] : [];

    /// <summary>A registered, attested host and a key protector granted to the fabric, with its transport key.</summary>
    private static async Task<(GuardedHostClient Client, byte[] Protector, byte[] TransportKey)> AttestedHostAsync(AdminClient admin, string url, string hostRoot)
    {
        var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(CancellationToken.None));
        using var owner = LocalGuardian.Create("rewrap-owner", TimeProvider.System);
        byte[] transportKey = RandomNumberGenerator.GetBytes(32);
        byte[] protector = KeyProtectorBuilder.Create(owner, [fabric], transportKey).ToJson();
        string keys = Path.Combine(hostRoot, "keys");
        Directory.CreateDirectory(keys);
        await admin.AddHostKeyAsync("rewrap-host", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
        string state = Path.Combine(hostRoot, "state");
        new ClientConfiguration([url], [url], keys).Save(state);
        var client = new GuardedHostClient(state);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        return (client, protector, transportKey);
    }

    /// <summary>
    /// A key protector correctly signed by its owner, with a correct transport-key MAC, whose fabric wrapping holds a
    /// wrapped key that does not decrypt (one byte flipped); and a health certificate of an attested host.
    /// </summary>
    private static async Task<(byte[] Protector, byte[] Certificate)> BadWrappingAsync(ServiceHarness service)
    {
        using var tenant = new Tenant();
        var fabric = await service.FabricGuardianAsync();
        var (protector, transportKey) = tenant.CreateProtector(fabric);
        var envelope = JsonNode.Parse(protector.ToJson())!.AsObject();
        var payload = JsonNode.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>()))!.AsObject();
        var wrapped = payload["wrappings"]!.AsArray().Single(w => w!["guardianName"]!.GetValue<string>() == fabric.Name)!["wrappedKey"]!;
        byte[] value = System.Buffers.Text.Base64Url.DecodeFromChars(wrapped["value"]!.GetValue<string>());
        value[10] ^= 0x01;
        wrapped["value"] = System.Buffers.Text.Base64Url.EncodeToString(value);
        byte[] newPayload = Encoding.UTF8.GetBytes(payload.ToJsonString());
        envelope["payload"] = System.Buffers.Text.Base64Url.EncodeToString(newPayload);
        envelope["guardianSignature"]!["value"] = System.Buffers.Text.Base64Url.EncodeToString(
            tenant.Owner.SigningKey.SignData(newPayload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        envelope["transportKeySignature"]!["value"] = System.Buffers.Text.Base64Url.EncodeToString(HMACSHA256.HashData(transportKey, newPayload));

        var host = await service.AddHostAsync($"host-{Guid.NewGuid():N}"[..12]);
        using var client = host.Client();
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        return (Encoding.UTF8.GetBytes(envelope.ToJsonString()), certificate);
    }

    private static async Task<IReadOnlyDictionary<string, string>> HealthAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var report = await http.GetFromJsonAsync(new Uri(url + "/healthz"), WireJson.Default.HealthReport);
        return report!.Checks;
    }
}
