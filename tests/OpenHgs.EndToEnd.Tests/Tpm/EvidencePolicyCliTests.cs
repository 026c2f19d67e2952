using System.Text.Json.Nodes;
using OpenHgs.Cli;
using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// <c>hgs evidence verify --policy-from URL</c>: the service's policy states and baselines (<c>GET /admin/v1/policy-set</c>)
/// evaluated over real <c>tpm2_quote</c> evidence from swtpm, exactly as the service would: passed with the host's
/// baseline, failed naming the policies once the baseline is gone, not checked when the quote does not attest what the
/// policies read, and refused before any report without the admin credential.
/// </summary>
public sealed class EvidencePolicyCliTests(EvidenceFiles files) : IClassFixture<EvidenceFiles>
{
    [Fact]
    public async Task The_services_policies_pass_with_the_hosts_baseline_and_fail_by_name_without_it()
    {
        using var root = new TempFolder("openhgs-evidence-policy-");
        await using var server = await StartAsync(root);
        string tokenFile = Path.Combine(root["service"], "admin.token");
        using var admin = new TpmAdminClient([server.Url], File.ReadAllText(tokenFile).Trim());
        var added = await admin.AddBaselineAsync("gce", BaselineCapture.Describe(TestData.ReadLog(EvidenceFiles.LogName), "gce-n2", DateTimeOffset.UtcNow).Document, CancellationToken.None);

        var passed = (await VerifyAsync(server, tokenFile, "--json")).Succeeded().Json();
        Assert.True((bool)passed["passed"]!);
        var policies = passed["policies"]!;
        Assert.Equal(("passed", added.PolicyVersion, server.Url), ((string?)policies["status"], (int)policies["policyVersion"]!, (string?)policies["source"]));
        Assert.True((bool)policies["fresh"]!);
        var results = policies["results"]!.AsArray();
        Assert.Equal((await admin.ListPoliciesAsync(CancellationToken.None)).Where(p => p.State != "disabled").Select(p => p.Name), results.Select(r => (string?)r!["name"]));
        Assert.All(results, r => Assert.True((bool)r!["passed"]!, r!.ToJsonString()));

        // The same evidence once the baseline is removed: the baseline policies fail, by name, at the new version.
        var removed = await admin.RemoveBaselineAsync("gce", CancellationToken.None);
        var result = await VerifyAsync(server, tokenFile, "--json");
        Assert.Equal(ExitCodes.Refused, result.ExitCode);
        var failed = result.Json()["policies"]!;
        Assert.Equal(("failed", removed.PolicyVersion), ((string?)failed["status"], (int)failed["policyVersion"]!));
        var failedNames = failed["results"]!.AsArray().Where(r => !(bool)r!["passed"]!).Select(r => (string?)r!["name"]).ToList();
        Assert.Contains("Hgs_BaselineMatch", failedNames);
        Assert.False((bool)result.Json()["passed"]!);
        Assert.Contains("evidence check failed: policies (", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
        Assert.Contains("Hgs_BaselineMatch", result.ErrorLines[0], StringComparison.Ordinal);

        // A staged policy is reported and never fails the evidence.
        foreach (string? name in failedNames)
        {
            await admin.SetPolicyStateAsync(name!, "staged", CancellationToken.None);
        }

        var text = (await VerifyAsync(server, tokenFile)).Succeeded().StdOut;
        Assert.Matches(@"policies\s+passed", text);
        Assert.Matches(@"Hgs_BaselineMatch\s+staged\s+FAILED", text);
    }

    [Fact]
    public async Task Policies_are_not_checked_when_the_quote_does_not_attest_every_pcr_they_read()
    {
        using var root = new TempFolder("openhgs-evidence-policy-");
        await using var server = await StartAsync(root);
        string tokenFile = Path.Combine(root["service"], "admin.token");

        // The fixture's ordinary quote covers PCRs 0-7 and 10; the policies also read the log's PCRs 8, 9 and 14.
        var json = (await HgsCli.RunAsync(["evidence", "verify", "--ak-public", files.AkPublic, "--quote", files.Quote(),
            "--signature", files.Signature(), "--event-log", files.Log, "--nonce", files.Nonce,
            "--policy-from", server.Url, "--token-file", tokenFile, "--json"], environment: null)).Succeeded().Json();
        var policies = json["policies"]!;
        Assert.Equal("not-checked", (string?)policies["status"]);
        Assert.Contains("does not attest the log's sha256 PCR(s) 8,9,14", (string?)policies["detail"], StringComparison.Ordinal);
        Assert.Empty(policies["results"]!.AsArray());
    }

    [Fact]
    [Trait("Attack", "A120")]
    public async Task A_root_filled_bank_gets_no_policy_verdict_and_a_result_without_a_nonce_is_marked_not_fresh()
    {
        using var root = new TempFolder("openhgs-evidence-policy-");
        await using var server = await StartAsync(root);
        string tokenFile = Path.Combine(root["service"], "admin.token");
        using var admin = new TpmAdminClient([server.Url], File.ReadAllText(tokenFile).Trim());
        await admin.AddBaselineAsync("gce", BaselineCapture.Describe(TestData.ReadLog(EvidenceFiles.LogName), "gce-n2", DateTimeOffset.UtcNow).Document, CancellationToken.None);

        // The good host's log, replayed by root into a bank the SHA-1-only firmware never extended: its baseline would
        // match, but the service refuses the quote (PcrBankNotQuoted) before any policy, and so does the offline tool.
        var rooted = await HgsCli.RunAsync(["evidence", "verify", "--ak-public", files.RootFilledAkPublic, "--quote", files.RootFilledQuote,
            "--signature", files.RootFilledSignature, "--event-log", files.Log, "--nonce", files.Nonce,
            "--policy-from", server.Url, "--token-file", tokenFile, "--json"], environment: null);
        Assert.Contains("pcrBanks (PcrBankNotQuoted)", rooted.FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        var refused = rooted.Json();
        Assert.False((bool)refused["passed"]!);
        Assert.Equal("not-checked", (string?)refused["policies"]!["status"]);
        Assert.Contains("bank rule", (string?)refused["policies"]!["detail"], StringComparison.Ordinal);
        Assert.Empty(refused["policies"]!["results"]!.AsArray());

        // Good evidence without --nonce: the policies pass, but the result is marked not fresh (JSON and a warning line).
        string[] withoutNonce = [.. Arguments(server).Where(a => a != "--nonce" && a != files.Nonce), "--token-file", tokenFile];
        var stale = (await HgsCli.RunAsync([.. withoutNonce, "--json"], environment: null)).Succeeded().Json()["policies"]!;
        Assert.Equal(("passed", false), ((string?)stale["status"], (bool)stale["fresh"]!));
        var text = (await HgsCli.RunAsync(withoutNonce, environment: null)).Succeeded().StdOut;
        Assert.Contains("warning: not fresh: no --nonce", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_admin_credential_nothing_is_printed_but_one_error_line()
    {
        using var root = new TempFolder("openhgs-evidence-policy-");
        await using var server = await StartAsync(root);
        var environment = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = null, ["HGS_ADMIN_TOKEN_FILE"] = null, ["HGS_CLIENT_CERT"] = null };

        var none = await HgsCli.RunAsync([.. Arguments(server), "--json"], environment);
        Assert.Contains("no admin credential", none.FailedWithOneErrorLine(ExitCodes.BadInput), StringComparison.Ordinal);

        string wrong = root["wrong.token"];
        File.WriteAllText(wrong, "not-the-token");
        var refused = await HgsCli.RunAsync([.. Arguments(server), "--token-file", wrong], environment);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("AdminCredentialRequired", Assert.Single(refused.ErrorLines), StringComparison.Ordinal);
        Assert.Equal(string.Empty, refused.StdOut);
    }

    private string[] Arguments(ServerProcess server) =>
        ["evidence", "verify", "--ak-public", files.AkPublic, "--quote", files.PolicyQuote, "--signature", files.PolicySignature,
            "--event-log", files.Log, "--nonce", files.Nonce, "--pcrs", "sha256:" + files.PolicyPcrs, "--policy-from", server.Url];

    private Task<CliResult> VerifyAsync(ServerProcess server, string tokenFile, params string[] extra) =>
        HgsCli.RunAsync([.. Arguments(server), "--token-file", tokenFile, .. extra], environment: null);

    private static async Task<ServerProcess> StartAsync(TempFolder root)
    {
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        return await ServerProcess.StartAsync(data);
    }
}
