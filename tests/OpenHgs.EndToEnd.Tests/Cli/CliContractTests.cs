using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// The command-line contract of issue 2, exercised as an operator would: every command is the real <c>hgs</c> in
/// its own process, against a real <c>hgs server run</c> process whose folder <c>hgs server init --software</c> made;
/// admin commands read <c>HGS_URL</c> and <c>HGS_ADMIN_TOKEN</c> from the environment.
/// </summary>
public sealed class CliContractTestsOnSqlite(SoftwareServerFixture fixture) : CliContractTests(fixture), IClassFixture<SoftwareServerFixture>;

/// <summary>The same contract with the service on PostgreSQL (<c>server init --database Host=…</c>).</summary>
public sealed class CliContractTestsOnPostgres(PostgresServerFixture fixture) : CliContractTests(fixture), IClassFixture<PostgresServerFixture>;

public abstract class CliContractTests(SoftwareServerFixture fixture)
{
    private static readonly string[] Roles = ["attestation-signer", "encryption", "signing"];

    [Fact]
    public async Task Keys_list_add_set_primary_and_disable_rotate_the_encryption_key()
    {
        // Init made one key per role, each the primary of its role (no other test of this class adds keys).
        var before = await ListKeysAsync();
        Assert.True(before.Count == 3, string.Join(", ", before.Select(k => k.ToJsonString())));
        foreach (string role in Roles)
        {
            Assert.Single(before, k => Role(k) == role && (bool)k["isPrimary"]!);
        }

        Assert.Equal(Roles, before.Select(Role).Order().ToArray());
        Assert.All(before, k => Assert.True((bool)k["enabled"]!));
        string oldPrimary = PrimaryId(before, "encryption");

        var added = (await fixture.RunAsync("keys", "add", "--role", "encryption", "--json")).Succeeded().Json();
        string newId = (string)added["id"]!;
        Assert.Equal("encryption", (string?)added["role"]);
        Assert.False((bool)added["isPrimary"]!);
        Assert.True((bool)added["enabled"]!);
        Assert.Equal(PrimaryId(await ListKeysAsync(), "encryption"), oldPrimary);

        // The primary cannot be disabled: rotate first.
        Assert.StartsWith("error: KeyIsPrimary:", (await fixture.RunAsync("keys", "disable", oldPrimary)).FailedWithOneErrorLine(1), StringComparison.Ordinal);
        var setPrimary = (await fixture.RunAsync("keys", "set-primary", newId)).Succeeded();
        Assert.Contains(newId, setPrimary.StdOut, StringComparison.Ordinal);
        (await fixture.RunAsync("keys", "disable", oldPrimary)).Succeeded();

        var after = await ListKeysAsync();
        Assert.Equal(newId, PrimaryId(after, "encryption"));
        var old = Assert.Single(after, k => (string?)k["id"] == oldPrimary);
        Assert.False((bool)old["enabled"]!);
        Assert.False((bool)old["isPrimary"]!);
        foreach (string role in Roles)
        {
            Assert.Single(after, k => Role(k) == role && (bool)k["isPrimary"]!);
        }

        // The fabric guardian that tenants import now carries the new primary's certificate.
        string guardianFile = Path.Combine(fixture.NewFolder("rotation"), "fabric.json");
        (await fixture.RunAsync("guardian", "export", "--out", guardianFile)).Succeeded();
        var guardian = JsonNode.Parse(await File.ReadAllTextAsync(guardianFile))!;
        Assert.Equal((string?)Assert.Single(after, k => (string?)k["id"] == newId)["certificate"], (string?)guardian["encryptionCertificate"]);

        // Refused with a reason each, changing nothing: a disabled key cannot become primary; an unknown id.
        var disabled = await fixture.RunAsync("keys", "set-primary", oldPrimary);
        Assert.StartsWith("error: KeyDisabled:", disabled.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        var unknown = await fixture.RunAsync("keys", "set-primary", "enc-doesnotexist");
        Assert.StartsWith("error: UnknownKey:", unknown.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Equal(newId, PrimaryId(await ListKeysAsync(), "encryption"));
    }

    [Fact]
    public async Task Owner_host_and_admin_commands_take_a_vm_key_from_key_protector_to_unlock()
    {
        string work = fixture.NewFolder("flow");
        string P(string name) => Path.Combine(work, name);

        // Host: key pair; admin registers its public key.
        var keygen = (await HgsCli.RunAsync("client", "keygen", "--out", P("host-keys"))).Succeeded();
        string publicKey = keygen.StdOut.Trim();
        Assert.True(File.Exists(publicKey), keygen.ToString());
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", await File.ReadAllTextAsync(publicKey), StringComparison.Ordinal);
        (await fixture.RunAsync("hosts", "add-key", "--name", "h1", "--public-key", publicKey)).Succeeded();
        var hosts = (await fixture.RunAsync("hosts", "list", "--json")).Succeeded().Json().AsArray();
        var h1 = Assert.Single(hosts, h => (string?)h!["name"] == "h1")!;
        Assert.Equal("host-key", (string?)h1["mode"]);
        Assert.Matches("^[0-9a-f]{64}$", (string?)h1["keyThumbprint"]);

        // Owner: guardian, key protector granted to the fabric, transport key kept (0600).
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", P("owner.json"))).Succeeded();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("owner.json")));
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();
        byte[] transportKey = await File.ReadAllBytesAsync(P("vm.tk"));
        Assert.Equal(32, transportKey.Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("vm.tk")));

        var shown = (await HgsCli.RunAsync("kp", "show", P("vm.kp"), "--json")).Succeeded().Json();
        Assert.True((bool)shown["signaturesValid"]!);
        Assert.Equal("owner", (string?)shown["owner"]);
        Assert.Equal(new[] { "CLI test fabric", "owner" }, Guardians(shown).Order().ToArray());

        // Host: configure, attest, unlock.
        string state = P("host-state");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", fixture.Url, "--key-protection-url", fixture.Url, "--host-key", P("host-keys"))).Succeeded();
        var attest = (await HgsCli.RunAsync("client", "attest", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attest["status"]);
        Assert.Empty(attest["reasons"]!.AsArray());
        Assert.False(string.IsNullOrEmpty((string?)attest["healthCertificate"]));

        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", P("vm.kp"), "--out", P("unlocked.tk"), "--egress-out", P("vm-egress.kp"))).Succeeded();
        Assert.Equal(transportKey, await File.ReadAllBytesAsync(P("unlocked.tk")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("unlocked.tk")));
        // The egress (rolled) key protector is written, and is a well-signed one (FullFlowTests unlocks it).
        var egress = (await HgsCli.RunAsync("kp", "show", P("vm-egress.kp"), "--json")).Succeeded().Json();
        Assert.True((bool)egress["signaturesValid"]!);

        // Owner: grant another guardian, then revoke it.
        (await HgsCli.RunAsync("guardian", "new", "--name", "second-fabric", "--out", P("second.json"), "--public-out", P("second.pub.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "grant", "--kp", P("vm.kp"), "--owner", P("owner.json"), "--guardian", P("second.pub.json"), "--out", P("vm-granted.kp"))).Succeeded();
        var granted = (await HgsCli.RunAsync("kp", "show", P("vm-granted.kp"), "--json")).Succeeded().Json();
        Assert.True((bool)granted["signaturesValid"]!);
        Assert.Equal(new[] { "CLI test fabric", "owner", "second-fabric" }, Guardians(granted).Order().ToArray());
        (await HgsCli.RunAsync("kp", "revoke", "--kp", P("vm-granted.kp"), "--owner", P("owner.json"), "--guardian", "second-fabric", "--out", P("vm-revoked.kp"))).Succeeded();
        var revoked = (await HgsCli.RunAsync("kp", "show", P("vm-revoked.kp"), "--json")).Succeeded().Json();
        Assert.True((bool)revoked["signaturesValid"]!);
        Assert.Equal(new[] { "CLI test fabric", "owner" }, Guardians(revoked).Order().ToArray());

        // Admin removes the host: its next attestation is refused, with the status and reason as data.
        (await fixture.RunAsync("hosts", "remove", "h1")).Succeeded();
        Assert.DoesNotContain((await fixture.RunAsync("hosts", "list", "--json")).Succeeded().Json().AsArray(), h => (string?)h!["name"] == "h1");
        var refused = await HgsCli.RunAsync("client", "attest", "--state", state, "--json");
        string error = refused.FailedWithOneErrorLine(1);
        var verdict = refused.Json();
        Assert.Equal("UnauthorizedHost", (string?)verdict["status"]);
        Assert.Contains(verdict["reasons"]!.AsArray(), r => (string?)r!["code"] == "HostKeyNotRegistered");
        Assert.Null(verdict["healthCertificate"]);
        Assert.Contains("UnauthorizedHost", error, StringComparison.Ordinal);
        Assert.Contains("HostKeyNotRegistered", error, StringComparison.Ordinal);

        var audit = (await fixture.RunAsync("audit", "verify", "--json")).Succeeded().Json();
        Assert.True((bool)audit["valid"]!);
        Assert.True((long)audit["records"]! >= 8, audit.ToJsonString());
        Assert.Null(audit["firstBrokenSequence"]);
        Assert.Matches("^[0-9a-f]{64}$", (string?)audit["headHash"]);
    }

    [Fact]
    public async Task Client_fails_over_to_the_second_url_for_attestation_and_key_protection()
    {
        string work = fixture.NewFolder("failover");
        string P(string name) => Path.Combine(work, name);
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("keys"))).Succeeded().StdOut.Trim();
        (await fixture.RunAsync("hosts", "add-key", "--name", "failover-host", "--public-key", publicKey)).Succeeded();
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", "failover-owner", "--out", P("owner.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();

        // Nothing listens on the first URL of each list.
        using var closed = new ClosedPort();
        string down = closed.Url;
        string state = P("state");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", $"{down},{fixture.Url}", "--key-protection-url", $"{down},{fixture.Url}", "--host-key", P("keys"))).Succeeded();

        var attest = (await HgsCli.RunAsync("client", "attest", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attest["status"]);
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", P("vm.kp"), "--out", P("unlocked.tk"))).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(P("vm.tk")), await File.ReadAllBytesAsync(P("unlocked.tk")));

        // Control: with only the dead URL the same host cannot attest, so the success above came from the second URL.
        string deadState = P("dead-state");
        (await HgsCli.RunAsync("client", "configure", "--state", deadState, "--attestation-url", down, "--key-protection-url", down, "--host-key", P("keys"))).Succeeded();
        Assert.Contains("ServiceUnreachable", (await HgsCli.RunAsync("client", "attest", "--state", deadState)).FailedWithOneErrorLine(3), StringComparison.Ordinal);
    }

    private async Task<List<JsonNode>> ListKeysAsync() =>
        [.. (await fixture.RunAsync("keys", "list", "--json")).Succeeded().Json().AsArray().Select(k => k!)];

    private static string Role(JsonNode key) => (string)key["role"]!;

    private static string PrimaryId(IEnumerable<JsonNode> keys, string role) =>
        (string)Assert.Single(keys, k => Role(k) == role && (bool)k["isPrimary"]!)["id"]!;

    private static IEnumerable<string> Guardians(JsonNode shown) => shown["wrappings"]!.AsArray().Select(w => (string)w!["guardian"]!);
}
