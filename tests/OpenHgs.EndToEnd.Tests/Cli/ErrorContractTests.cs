using System.Security.Cryptography;
using System.Text;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// "Every command: --help, non-zero exit and a one-line reason on error." Exit codes: 1 refused, 2 bad input,
/// 3 service or key store unavailable. Each failure prints exactly one line on stderr, starting with <c>error: </c>.
/// These are the errors that involve a served data folder, here with its database on SQLite (the embedded default).
/// </summary>
public sealed class ErrorContractTestsOnSqlite(SoftwareServerFixture fixture) : ErrorContractTests(fixture), IClassFixture<SoftwareServerFixture>;

/// <summary>The same errors with the service's database on PostgreSQL (<c>server init --database Host=…</c>).</summary>
public sealed class ErrorContractTestsOnPostgres(PostgresServerFixture fixture) : ErrorContractTests(fixture), IClassFixture<PostgresServerFixture>;

public abstract class ErrorContractTests(SoftwareServerFixture fixture)
{
    [Fact]
    [Trait("Attack", "A58")]
    public async Task Admin_command_with_a_wrong_token_is_refused_with_AdminCredentialRequired()
    {
        var environment = new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url, ["HGS_ADMIN_TOKEN"] = "not-the-admin-token" };
        var result = await HgsCli.RunAsync(["keys", "list", "--json"], environment);
        string error = result.FailedWithOneErrorLine(1);
        Assert.StartsWith("error: AdminCredentialRequired:", error, StringComparison.Ordinal);
        // With --json the failure is on stdout too, as data; the token is in neither stream.
        Assert.Equal("AdminCredentialRequired", (string?)result.Json()["error"]!["code"]);
        Assert.DoesNotContain("not-the-admin-token", result.StdErr + result.StdOut, StringComparison.Ordinal);

        // --token overrides the environment: the right one works, a wrong one is refused the same way.
        (await HgsCli.RunAsync(["keys", "list", "--token", fixture.AdminToken], environment)).Succeeded();
        Assert.Contains("AdminCredentialRequired", (await fixture.RunAsync("hosts", "list", "--token", "wrong")).FailedWithOneErrorLine(1), StringComparison.Ordinal);

        // No credential at all is bad input, caught before any request.
        var missing = await HgsCli.RunAsync(["hosts", "list"], new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url });
        Assert.Contains("no admin credential", missing.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var noUrl = await HgsCli.RunAsync(["hosts", "list"], new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = fixture.AdminToken });
        Assert.Contains("no service URL", noUrl.FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_init_refuses_an_initialised_folder_and_an_ambiguous_key_store()
    {
        // Run as the operator first ran it: same folder, same database. The folder, the credential and the
        // database's audit trail (no second "initialised" record) are left as they were.
        string before = await File.ReadAllTextAsync(Path.Combine(fixture.DataDirectory, "admin.token"));
        string configuration = await File.ReadAllTextAsync(Path.Combine(fixture.DataDirectory, "hgs.json"));
        long records = await AuditRecordsAsync();
        var again = await HgsCli.RunAsync(["server", "init", "--data", fixture.DataDirectory, "--software", .. fixture.DatabaseOptions], environment: null);
        Assert.Contains("already initialised", again.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(Path.Combine(fixture.DataDirectory, "admin.token")));
        Assert.Equal(configuration, await File.ReadAllTextAsync(Path.Combine(fixture.DataDirectory, "hgs.json")));
        Assert.Equal(records, await AuditRecordsAsync());

        string fresh = Path.Combine(fixture.NewFolder("init"), "service");
        var both = await HgsCli.RunAsync(["server", "init", "--data", fresh, "--software", "--hsm-module", "/usr/lib/softhsm/libsofthsm2.so", .. fixture.DatabaseOptions], environment: null);
        Assert.Contains("choose exactly one key store", both.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var neither = await HgsCli.RunAsync(["server", "init", "--data", fresh, .. fixture.DatabaseOptions], environment: null);
        Assert.Contains("choose exactly one key store", neither.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var partialHsm = await HgsCli.RunAsync(["server", "init", "--data", fresh, "--hsm-module", "/usr/lib/softhsm/libsofthsm2.so", "--hsm-token", "t", .. fixture.DatabaseOptions], environment: null);
        Assert.Contains("--hsm-pin-env is required", partialHsm.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.False(Directory.Exists(fresh), "a refused init left a data folder behind");
    }

    [Fact]
    [Trait("Attack", "A61")]
    public async Task Server_run_in_production_refuses_the_software_key_store()
    {
        // Were the refusal missing, the server would run: the short timeout turns that into a failure, not a hang.
        var result = await HgsCli.RunAsync(["server", "run", "--data", fixture.DataDirectory, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}", "--production"], null, timeout: TimeSpan.FromSeconds(30));
        string error = result.FailedWithOneErrorLine(2);
        Assert.Contains("--production", error, StringComparison.Ordinal);
        Assert.Contains("software key store", error, StringComparison.Ordinal);

        var notInitialised = await HgsCli.RunAsync(["server", "run", "--data", fixture.NewFolder("empty"), "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}"], null, timeout: TimeSpan.FromSeconds(30));
        Assert.Contains("not an initialised OpenHGS data folder", notInitialised.FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kp_show_of_a_key_protector_with_one_payload_byte_altered_reports_invalid_signatures_and_exits_1()
    {
        string work = fixture.NewFolder("tamper");
        string P(string name) => Path.Combine(work, name);
        (await HgsCli.RunAsync("guardian", "new", "--name", "tamper-owner", "--out", P("owner.json"))).Succeeded();
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"))).Succeeded();
        Assert.True((bool)(await HgsCli.RunAsync("kp", "show", P("vm.kp"), "--json")).Succeeded().Json()["signaturesValid"]!);

        // Alter one byte in the middle of the payload: inside the fabric wrapping's wrapped key, swapping one base64url
        // character for another keeps the payload well-formed, so only the signatures can catch it.
        var envelope = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllBytesAsync(P("vm.kp")))!;
        byte[] payload = Base64UrlDecode((string)envelope["payload"]!);
        string payloadText = Encoding.UTF8.GetString(payload);
        int wrappedKey = payloadText.IndexOf("\"wrappedKey\"", payloadText.IndexOf("CLI test fabric", StringComparison.Ordinal), StringComparison.Ordinal);
        int value = payloadText.IndexOf("\"value\":\"", wrappedKey, StringComparison.Ordinal) + "\"value\":\"".Length;
        int end = payloadText.IndexOf('"', value);
        int middle = (value + end) / 2;
        payload[middle] = payload[middle] == (byte)'A' ? (byte)'B' : (byte)'A';
        envelope["payload"] = Base64UrlEncode(payload);
        await File.WriteAllTextAsync(P("tampered.kp"), envelope.ToJsonString());

        var shown = await HgsCli.RunAsync("kp", "show", P("tampered.kp"), "--json");
        string error = shown.FailedWithOneErrorLine(1);
        Assert.StartsWith("error: KeyProtectorGuardianSignatureInvalid:", error, StringComparison.Ordinal);
        var report = shown.Json();
        Assert.False((bool)report["signaturesValid"]!);
        Assert.StartsWith("GuardianSignatureInvalid:", (string?)report["problem"], StringComparison.Ordinal);

        // A byte that breaks the payload's structure is bad input, refused before any report: Malformed, exit 2,
        // and with --json the failure itself is the only JSON on stdout.
        payload[payloadText.IndexOf("\"wrappings\"", StringComparison.Ordinal) + 1] = (byte)'X';
        envelope["payload"] = Base64UrlEncode(payload);
        await File.WriteAllTextAsync(P("broken.kp"), envelope.ToJsonString());
        var broken = await HgsCli.RunAsync("kp", "show", P("broken.kp"), "--json");
        Assert.StartsWith("error: KeyProtectorMalformed:", broken.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal(("KeyProtectorMalformed", 2), ((string?)broken.Json()["error"]!["code"], (int)broken.Json()["error"]!["exitCode"]!));
    }

    private async Task<long> AuditRecordsAsync() => (long)(await fixture.RunAsync("audit", "verify", "--json")).Succeeded().Json()["records"]!;

    private static byte[] Base64UrlDecode(string text) => System.Buffers.Text.Base64Url.DecodeFromChars(text);

    private static string Base64UrlEncode(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}

/// <summary>
/// The part of the error contract that involves no service and no data folder, so no database: usage for
/// <c>--help</c>, command-line parse errors, and guarded-host commands refused on their own input or because no
/// service answers. It runs once.
/// </summary>
public sealed class ErrorContractWithoutServiceTests
{
    [Theory]
    [InlineData("server", new[] { "init", "run", "set-mode", "deny-before", "backup", "restore" })]
    [InlineData("keys", new[] { "list", "add", "set-primary", "disable", "enable", "remove" })]
    [InlineData("hosts", new[] { "add-key", "list", "remove" })]
    [InlineData("tpm-roots", new[] { "add", "list", "remove", "add-crl", "list-crls", "remove-crl" })]
    [InlineData("guardian", new[] { "new", "export" })]
    [InlineData("kp", new[] { "new", "grant", "revoke", "show" })]
    [InlineData("vm", new[] { "new", "show", "grant", "revoke" })]
    [InlineData("client", new[] { "keygen", "configure", "attest", "unlock", "status" })]
    [InlineData("audit", new[] { "verify", "list" })]
    [InlineData("quickstart", new string[0])]
    public async Task Every_command_group_and_each_of_its_commands_prints_usage_for_help(string group, string[] expectedCommands)
    {
        var help = await HgsCli.RunAsync(group, "--help");
        AssertUsage(help, $"hgs {group}");
        // The contract's commands are all there (a group may gain more; each listed one must have help too).
        var listed = ListedCommands(help.StdOut);
        Assert.Subset(listed.ToHashSet(), expectedCommands.ToHashSet());

        var subcommands = await Task.WhenAll(listed.Select(c => HgsCli.RunAsync(group, c, "--help")));
        for (int i = 0; i < listed.Count; i++)
        {
            AssertUsage(subcommands[i], $"hgs {group} {listed[i]}");
        }
    }

    [Fact]
    public async Task Root_help_lists_every_group_of_the_contract()
    {
        var help = await HgsCli.RunAsync("--help");
        AssertUsage(help, "hgs");
        Assert.Subset(ListedCommands(help.StdOut).ToHashSet(), new HashSet<string> { "audit", "client", "guardian", "hosts", "keys", "kp", "quickstart", "server" });
    }

    [Theory]
    [InlineData(new[] { "keys", "list", "--bogus" }, "Unrecognized command or argument '--bogus'", "hgs keys list --help")]
    [InlineData(new[] { "kp", "new", "--out", "x.kp" }, "Option '--owner' is required", "hgs kp new --help")]
    [InlineData(new[] { "client", "unlock", "--state", "s" }, "Option '--kp' is required", "hgs client unlock --help")]
    [InlineData(new[] { "hosts", "remove" }, "Required argument missing for command: 'remove'", "hgs hosts remove --help")]
    [InlineData(new[] { "keys" }, "Required command was not provided", "hgs keys --help")]
    [InlineData(new[] { "nosuchgroup" }, "Unrecognized command or argument 'nosuchgroup'", "hgs --help")]
    public async Task Wrong_or_missing_options_exit_2_with_one_error_line(string[] args, string reason, string hint)
    {
        var result = await HgsCli.RunAsync(args);
        string error = result.FailedWithOneErrorLine(2);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains(hint, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_unlock_with_no_server_reachable_exits_3_with_ServiceUnreachable()
    {
        using var folder = new TempFolder();
        string P(string name) => folder[name];
        (await HgsCli.RunAsync("client", "keygen", "--out", P("keys"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", "unreachable-owner", "--out", P("owner.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--out", P("vm.kp"))).Succeeded();
        using var closed = new ClosedPort();
        string down = closed.Url;
        (await HgsCli.RunAsync("client", "configure", "--state", P("state"), "--attestation-url", down, "--key-protection-url", down, "--host-key", P("keys"))).Succeeded();

        var result = await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("vm.kp"), "--out", P("vm.tk"));
        string error = result.FailedWithOneErrorLine(3);
        Assert.StartsWith("error: ServiceUnreachable:", error, StringComparison.Ordinal);
        Assert.Contains(down, error, StringComparison.Ordinal);
        Assert.False(File.Exists(P("vm.tk")), "a failed unlock wrote a transport key file");
    }

    [Fact]
    public async Task Client_commands_on_a_missing_state_or_key_folder_exit_2()
    {
        using var folder = new TempFolder();
        string work = folder.Path;
        // Well-formed service URLs that nothing answers: configure only validates and saves, it contacts nothing.
        using var closed = new ClosedPort();
        var attest = await HgsCli.RunAsync("client", "attest", "--state", Path.Combine(work, "nowhere"));
        Assert.StartsWith("error: NotConfigured:", attest.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        var configure = await HgsCli.RunAsync("client", "configure", "--state", Path.Combine(work, "s"), "--attestation-url", closed.Url, "--key-protection-url", closed.Url, "--host-key", Path.Combine(work, "nokeys"));
        Assert.StartsWith("error: HostKeyMissing:", configure.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        (await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(work, "keys"))).Succeeded();
        var badUrl = await HgsCli.RunAsync("client", "configure", "--state", Path.Combine(work, "s"), "--attestation-url", "ftp://example", "--key-protection-url", closed.Url, "--host-key", Path.Combine(work, "keys"));
        Assert.StartsWith("error: --attestation-url: 'ftp://example' is not an http:// or https:// URL.", badUrl.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(work, "s")), "a refused configure wrote a state folder");

        var again = await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(work, "keys"));
        Assert.StartsWith("error: HostKeyExists:", again.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        var kp = await HgsCli.RunAsync("kp", "show", Path.Combine(work, "missing.kp"));
        Assert.Contains("does not exist", kp.FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("signing", "error: HostKeyInvalid: The host signing key is one the attestation service refuses: EC keys must be on P-256 or P-384, not 1.3.132.0.10 (secp256k1).")]
    [InlineData("encryption", "error: HostKeyInvalid: The host encryption key is RSA-1024; the key protection service releases only to RSA keys of at least 2048 bits.")]
    public async Task Client_configure_refuses_host_keys_the_service_would_refuse_and_saves_nothing(string replaced, string expected)
    {
        using var folder = new TempFolder();
        string keys = Path.Combine(folder.Path, "keys");
        using var closed = new ClosedPort();
        (await HgsCli.RunAsync("client", "keygen", "--out", keys)).Succeeded();
        // A key made elsewhere put in place of the one keygen made: secp256k1 (a 256-bit curve the service does not
        // register, design change 61), or an RSA key too short for the health certificate.
        using var secp256k1 = ECDsa.Create(ECCurve.CreateFromValue("1.3.132.0.10"));
        using var rsa1024 = RSA.Create(1024);
        (string file, string pem) = replaced == "signing"
            ? (HostKeyPair.SigningKeyFile, secp256k1.ExportPkcs8PrivateKeyPem())
            : (HostKeyPair.EncryptionKeyFile, rsa1024.ExportPkcs8PrivateKeyPem());
        OwnerOnlyFile.Replace(Path.Combine(keys, file), Encoding.ASCII.GetBytes(pem));

        string state = Path.Combine(folder.Path, "state");
        var refused = await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", closed.Url, "--key-protection-url", closed.Url, "--host-key", keys);
        Assert.Equal(expected, refused.FailedWithOneErrorLine(2));
        Assert.False(Directory.Exists(state), "a refused configure wrote a state folder");
    }

    private static void AssertUsage(CliResult result, string commandLine)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(string.Empty, result.StdErr);
        Assert.Contains("Usage:", result.StdOut, StringComparison.Ordinal);
        Assert.Contains($"  {commandLine} ", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("Description:", result.StdOut, StringComparison.Ordinal);
    }

    /// <summary>The command names in the "Commands:" section of System.CommandLine's help.</summary>
    private static List<string> ListedCommands(string help)
    {
        var lines = help.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        int start = Array.IndexOf(lines, "Commands:");
        return start < 0
            ? []
            : lines.Skip(start + 1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
                .Select(l => l.Trim().Split(' ')[0])
                .Where(name => name.Length > 0)
                .ToList();
    }
}
