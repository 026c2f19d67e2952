using System.Diagnostics;
using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Issue 10 §5, what an admin used to HGS and Vault expects of the command line: settings shown and changed, the
/// audit trail filtered and followed, the credential from a file, URLs and state folders checked before use, and
/// every failure also as JSON when <c>--json</c> was asked for.
/// </summary>
public sealed class AdminCompletenessCliTests(SoftwareServerFixture fixture) : IClassFixture<SoftwareServerFixture>
{
    [Fact]
    public async Task Settings_are_shown_and_the_certificate_validity_is_set_within_its_bounds()
    {
        var settings = (await fixture.RunAsync("server", "settings", "--json")).Succeeded().Json();
        Assert.Equal(480, (int)settings["healthCertificateValidityMinutes"]!);
        Assert.Contains("validity:", (await fixture.RunAsync("server", "settings")).Succeeded().StdOut, StringComparison.Ordinal);

        var changed = (await fixture.RunAsync("server", "set-validity", "2h", "--json")).Succeeded().Json();
        Assert.Equal(120, (int)changed["healthCertificateValidityMinutes"]!);

        // A duration the CLI cannot read is bad input before any request; one the service refuses is its code.
        Assert.Contains("is not a duration", (await fixture.RunAsync("server", "set-validity", "eight-hours")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.StartsWith("error: ValidityOutOfRange:", (await fixture.RunAsync("server", "set-validity", "3m")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal(120, (int)(await fixture.RunAsync("server", "settings", "--json")).Succeeded().Json()["healthCertificateValidityMinutes"]!);

        // Every change is audited, and the filters find exactly those records.
        var changes = (await fixture.RunAsync("audit", "list", "--event", "admin.settings.*", "--since", "1h", "--json")).Succeeded().Json().AsArray();
        Assert.NotEmpty(changes);
        Assert.All(changes, r => Assert.StartsWith("admin.settings.", (string?)r!["event"], StringComparison.Ordinal));
        (await fixture.RunAsync("server", "set-validity", "8h")).Succeeded();
    }

    [Fact]
    public async Task Audit_list_filters_by_event_subject_outcome_and_time_and_refuses_what_it_cannot_read()
    {
        string host = "audit-" + Guid.NewGuid().ToString("N")[..8];
        string work = fixture.NewFolder("audit-filters");
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(work, "keys"))).Succeeded().StdOut.Trim();
        (await fixture.RunAsync("hosts", "add-key", "--name", host, "--public-key", publicKey)).Succeeded();
        (await fixture.RunAsync("hosts", "remove", host)).Succeeded();

        var aboutHost = (await fixture.RunAsync("audit", "list", "--subject", host, "--json")).Succeeded().Json().AsArray();
        Assert.Equal(2, aboutHost.Count);
        Assert.All(aboutHost, r => Assert.Equal(host, (string?)r!["subject"]));
        Assert.True((long)aboutHost[0]!["sequence"]! > (long)aboutHost[1]!["sequence"]!, "newest first");

        string firstEvent = (string)aboutHost[1]!["event"]!;
        var oneEvent = (await fixture.RunAsync("audit", "list", "--subject", host, "--event", firstEvent, "--json")).Succeeded().Json().AsArray();
        Assert.Equal(firstEvent, (string?)Assert.Single(oneEvent)!["event"]);

        // Outcomes: both changes succeeded; none was refused or failed; an outcome the service never writes is bad input.
        Assert.Equal(2, (await fixture.RunAsync("audit", "list", "--subject", host, "--outcome", "success", "--json")).Succeeded().Json().AsArray().Count);
        Assert.Empty((await fixture.RunAsync("audit", "list", "--subject", host, "--outcome", "refused,error", "--json")).Succeeded().Json().AsArray());
        Assert.StartsWith("error: AuditQueryInvalid:", (await fixture.RunAsync("audit", "list", "--outcome", "failed")).FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // A wildcard is only a trailing '*': SQL's own wildcards in a value match themselves, nothing more.
        Assert.Empty((await fixture.RunAsync("audit", "list", "--event", "%", "--json")).Succeeded().Json().AsArray());
        Assert.Empty((await fixture.RunAsync("audit", "list", "--event", "admin.hosts_%*", "--json")).Succeeded().Json().AsArray());
        Assert.Empty((await fixture.RunAsync("audit", "list", "--subject", host, "--since", DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"), "--json")).Succeeded().Json().AsArray());

        Assert.Contains("--since 'yesterday'", (await fixture.RunAsync("audit", "list", "--since", "yesterday")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Contains("--limit", (await fixture.RunAsync("audit", "list", "--limit", "0")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_list_follow_prints_new_records_as_json_lines_until_interrupted()
    {
        var start = HgsCommand.CreateStartInfo(["audit", "list", "--follow", "--json", "--limit", "1"], fixture.Environment);
        using var follower = Process.Start(start)!;
        follower.StandardInput.Close();
        try
        {
            // The newest existing record first, then what happens next.
            string? first = await follower.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(JsonNode.Parse(first!)!["sequence"]);

            string host = "follow-" + Guid.NewGuid().ToString("N")[..8];
            string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(fixture.NewFolder("follow"), "keys"))).Succeeded().StdOut.Trim();
            (await fixture.RunAsync("hosts", "add-key", "--name", host, "--public-key", publicKey)).Succeeded();

            JsonNode? seen = null;
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (seen is null)
            {
                string? line = await follower.StandardOutput.ReadLineAsync(deadline.Token);
                Assert.NotNull(line);
                var record = JsonNode.Parse(line)!;
                if ((string?)record["subject"] == host)
                {
                    seen = record;
                }
            }

            Assert.StartsWith("admin.hosts", (string?)seen["event"], StringComparison.Ordinal);
            Assert.False(follower.HasExited, "--follow stopped by itself");
        }
        finally
        {
            follower.Kill(entireProcessTree: true);
            await follower.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task The_admin_credential_comes_from_a_token_file_and_bad_urls_are_bad_input()
    {
        string tokenFile = Path.Combine(fixture.DataDirectory, "admin.token");
        var url = new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url };
        (await HgsCli.RunAsync(["hosts", "list", "--token-file", tokenFile], url)).Succeeded();
        (await HgsCli.RunAsync(["hosts", "list"], new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url, ["HGS_ADMIN_TOKEN_FILE"] = tokenFile })).Succeeded();
        Assert.Contains("alternatives", (await HgsCli.RunAsync(["hosts", "list", "--token-file", tokenFile, "--token", "x"], url)).FailedWithOneErrorLine(2), StringComparison.Ordinal);

        string wrong = Path.Combine(fixture.NewFolder("token"), "wrong.token");
        await File.WriteAllTextAsync(wrong, "not-the-token\n");
        var refused = await HgsCli.RunAsync(["hosts", "list", "--token-file", wrong], url);
        Assert.StartsWith("error: AdminCredentialRequired:", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-token", refused.StdErr + refused.StdOut, StringComparison.Ordinal);

        foreach (string bad in new[] { "not a url", "ftp://127.0.0.1/", "http://user:secret@127.0.0.1:1/", "127.0.0.1:8080" })
        {
            var result = await HgsCli.RunAsync(["hosts", "list", "--url", bad, "--token-file", tokenFile]);
            Assert.Contains("--url", result.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        }

        Assert.Contains("--attestation-url", (await HgsCli.RunAsync("client", "configure", "--state", Path.Combine(fixture.NewFolder("state"), "s"),
            "--attestation-url", "hgs.example", "--key-protection-url", fixture.Url, "--host-key", "x")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_json_every_failure_is_also_a_json_object_on_stdout()
    {
        var refused = await HgsCli.RunAsync(["hosts", "list", "--json", "--token", "wrong"], new Dictionary<string, string?> { ["HGS_URL"] = fixture.Url });
        refused.FailedWithOneErrorLine(1);
        var error = refused.Json()["error"]!;
        Assert.Equal(("AdminCredentialRequired", 1), ((string?)error["code"], (int)error["exitCode"]!));

        var usage = await HgsCli.RunAsync("hosts", "lsit", "--json");
        Assert.Contains("Did you mean 'list'?", usage.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal(("UsageInvalid", 2), ((string?)usage.Json()["error"]!["code"], (int)usage.Json()["error"]!["exitCode"]!));

        string garbage = Path.Combine(fixture.NewFolder("kp"), "garbage.kp");
        await File.WriteAllTextAsync(garbage, "{\"not\":\"a key protector\"}");
        var malformed = await HgsCli.RunAsync("kp", "show", garbage, "--json");
        Assert.StartsWith("error: KeyProtectorMalformed:", malformed.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Equal("KeyProtectorMalformed", (string?)malformed.Json()["error"]!["code"]);

        // Without --json nothing goes to stdout on failure.
        Assert.Equal(string.Empty, (await HgsCli.RunAsync("kp", "show", garbage)).StdOut);
    }

    [Fact]
    public async Task The_state_folder_comes_from_HGS_CLIENT_STATE()
    {
        string work = fixture.NewFolder("client-state");
        string state = Path.Combine(work, "state");
        (await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(work, "keys"))).Succeeded();
        var environment = new Dictionary<string, string?> { ["HGS_CLIENT_STATE"] = state };
        (await HgsCli.RunAsync(["client", "configure", "--attestation-url", fixture.Url, "--key-protection-url", fixture.Url, "--host-key", Path.Combine(work, "keys")], environment)).Succeeded();
        var status = (await HgsCli.RunAsync(["client", "status", "--json"], environment)).Succeeded().Json();
        Assert.Equal(fixture.Url, (string?)status["attestationUrls"]![0]);

        Assert.Contains("HGS_CLIENT_STATE", (await HgsCli.RunAsync("client", "status")).FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }
}
