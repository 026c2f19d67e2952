using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Classic hostile inputs at the command line and what the operator's server prints (attack matrix rows of
/// docs/security.md): SQL-like names, file options aimed through planted links, and secrets reaching the log.
/// </summary>
public sealed class HostileInputCliTests(SoftwareServerFixture fixture) : IClassFixture<SoftwareServerFixture>
{
    [Theory]
    [Trait("Attack", "A68")]
    [InlineData("x'; DROP TABLE hosts;--")]
    [InlineData("h1\" OR \"1\"=\"1")]
    [InlineData("../../etc/passwd")]
    [InlineData("host;reboot")]
    public async Task Sql_like_host_names_are_refused_by_name_and_leave_the_host_table_as_it_was(string name)
    {
        string work = fixture.NewFolder("sql-names");
        string keys = Path.Combine(work, "host-keys");
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", keys)).Succeeded().StdOut.Trim();
        string before = (await fixture.RunAsync("hosts", "list", "--json")).Succeeded().Json().ToJsonString();

        var refused = await fixture.RunAsync("hosts", "add-key", "--name", name, "--public-key", publicKey);
        Assert.StartsWith("error: HostNameInvalid:", refused.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // Nothing was added, and the table still answers: the same key registers under a proper name.
        Assert.Equal(before, (await fixture.RunAsync("hosts", "list", "--json")).Succeeded().Json().ToJsonString());
        string proper = "sql-" + Guid.NewGuid().ToString("N")[..8];
        (await fixture.RunAsync("hosts", "add-key", "--name", proper, "--public-key", publicKey)).Succeeded();
        var hosts = (await fixture.RunAsync("hosts", "list", "--json")).Succeeded().Json().AsArray();
        Assert.Single(hosts, h => (string?)h!["name"] == proper);
        Assert.DoesNotContain(hosts, h => (string?)h!["name"] == name);
        (await fixture.RunAsync("hosts", "remove", proper)).Succeeded();
    }

    [Fact]
    [Trait("Attack", "A69")]
    public async Task A_secret_file_option_never_writes_through_a_planted_symlink_or_over_an_existing_file()
    {
        string work = fixture.NewFolder("planted");
        string elsewhere = fixture.NewFolder("victim");

        // A link planted where the operator will write private keys, pointing at a file that does not exist yet:
        // following it would create the attacker's chosen file with the operator's secrets.
        string target = Path.Combine(elsewhere, "stolen.json");
        string link = Path.Combine(work, "owner.json");
        File.CreateSymbolicLink(link, target);
        var dangling = await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", link);
        Assert.Contains("already exists", dangling.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.False(File.Exists(target), "the secret was written through the planted link");

        // A link to an existing file, and an existing file: neither is overwritten.
        string existing = Path.Combine(elsewhere, "important.conf");
        await File.WriteAllTextAsync(existing, "keep me\n");
        string linkToExisting = Path.Combine(work, "vm.tk");
        File.CreateSymbolicLink(linkToExisting, existing);
        (await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", Path.Combine(work, "real-owner.json"))).Succeeded();
        var throughLink = await HgsCli.RunAsync("kp", "new", "--owner", Path.Combine(work, "real-owner.json"), "--out", Path.Combine(work, "vm.kp"), "--transport-key-out", linkToExisting);
        Assert.Contains("already exists", throughLink.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var overExisting = await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", existing);
        Assert.Contains("already exists", overExisting.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal("keep me\n", await File.ReadAllTextAsync(existing));
        Assert.False(File.Exists(Path.Combine(work, "vm.kp")), "a refused command left a partial key protector behind");
    }

    [Fact]
    [Trait("Attack", "A70")]
    public async Task No_admin_token_wrong_token_or_transport_key_reaches_the_server_log()
    {
        string work = fixture.NewFolder("secrets");
        string P(string name) => Path.Combine(work, name);
        string host = "log-" + Guid.NewGuid().ToString("N")[..8];

        // A whole flow: admin commands with the token, a key protector, an attestation and a release.
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("host-keys"))).Succeeded().StdOut.Trim();
        (await fixture.RunAsync("hosts", "add-key", "--name", host, "--public-key", publicKey)).Succeeded();
        var (keyProtector, transportKeyFile) = await fixture.NewKeyProtectorAsync(work, "log-owner");
        string state = P("host-state");
        await fixture.ConfigureHostAsync(state, P("host-keys"));
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", keyProtector, "--out", P("unlocked.tk"))).Succeeded();
        byte[] transportKey = await File.ReadAllBytesAsync(transportKeyFile);
        Assert.Equal(transportKey, await File.ReadAllBytesAsync(P("unlocked.tk")));

        // A guessed credential is refused, and must not be written down either (a log reader could try it elsewhere).
        string guess = "guess-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var refused = await HgsCli.RunAsync(["hosts", "list"], new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url, ["HGS_ADMIN_TOKEN"] = guess });
        Assert.StartsWith("error: AdminCredentialRequired:", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        (await fixture.RunAsync("hosts", "remove", host)).Succeeded();

        string log = fixture.Server.Output;
        Assert.False(string.IsNullOrWhiteSpace(log), "the server printed nothing, so this test proves nothing");
        string[] secrets =
        [
            fixture.AdminToken,
            guess,
            Convert.ToBase64String(transportKey),
            System.Buffers.Text.Base64Url.EncodeToString(transportKey),
            Convert.ToHexString(transportKey),
            Convert.ToHexStringLower(transportKey),
        ];
        foreach (string secret in secrets)
        {
            Assert.DoesNotContain(secret, log, StringComparison.Ordinal);
        }

        // The admin token also never appears in the audit trail an auditor reads.
        var audit = (await fixture.RunAsync("audit", "list", "--json")).Succeeded().StdOut;
        Assert.DoesNotContain(fixture.AdminToken, audit, StringComparison.Ordinal);
        Assert.DoesNotContain(guess, audit, StringComparison.Ordinal);
    }
}
