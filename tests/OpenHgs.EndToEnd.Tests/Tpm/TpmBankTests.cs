using OpenHgs.Client;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Every PCR bank (issue 9 §4), against swtpm with the SHA-1 and SHA-256 banks active (or SHA-1 alone): the host quotes
/// every bank its TPM implements, the service requires each active bank to be one the log declares and each declared
/// bank to replay, and SHA-1-only firmware is attested only where the admin disabled <c>Hgs_PcrBankSha256</c>.
/// </summary>
public sealed class TpmBankTests
{
    private const string BankPolicy = "Hgs_PcrBankSha256";

    [Fact]
    public async Task Both_active_banks_are_quoted_and_must_replay()
    {
        await using var scenario = await TpmScenario.StartAsync("Rhel8GCE");
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("both");
        using var client = host.Client();

        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        var quote = (QuoteInfo)TpmsAttest.Parse(Convert.FromBase64String(evidence.Tpm!.Quote)).Attested;
        var selected = quote.PcrSelection.Where(s => s.Pcrs.Count > 0).Select(s => s.Hash).Order().ToList();
        Assert.Equal([TpmAlgorithm.Sha1, TpmAlgorithm.Sha256], selected);

        var outcome = await client.SubmitAsync(evidence, CancellationToken.None);
        Assert.True(outcome.Passed, string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}")));
    }

    [Fact]
    public async Task Quote_that_omits_a_bank_the_log_declares_is_refused_and_audited()
    {
        await using var scenario = await TpmScenario.StartAsync("Rhel8GCE");
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("sha256-only-quote");
        using var client = host.Client();

        // The SHA-256 bank alone (what hosts quoted before issue 9 §4): the SHA-1 bank the log declares is not covered.
        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None), [TpmAlgorithm.Sha256]);
        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, evidence, "PcrBankNotQuoted", "InvalidEvidence");
        Assert.Contains("sha1", refused.Reasons[0].Message, StringComparison.Ordinal);
        Assert.Equal(1, await RefusedAttestationsAsync(scenario, "PcrBankNotQuoted"));
    }

    [Fact]
    [Trait("Attack", "A79")]
    public async Task SHA1_only_firmware_whose_SHA256_bank_root_filled_with_a_good_hosts_log_is_refused()
    {
        // The firmware measured the Debian boot into SHA-1 only; root then extends the SHA-256 PCRs it left alone with
        // a good host's digests and presents that host's (SHA-1 + SHA-256) log.
        await using var scenario = await TpmScenario.StartAsync("Debian10GCE");
        await scenario.AddBaselineAsync("Rhel8GCE");
        using (var tpm = scenario.Tpm.CreateClient())
        {
            tpm.ExtendEventLog(EventLogParser.Parse(TestData.ReadLog("Rhel8GCE")), [TpmAlgorithm.Sha256]);
        }

        var host = await scenario.EnrolAsync("forger", logName: "Rhel8GCE");
        using var client = host.Client();

        // Quoting SHA-256 alone hides the SHA-1 bank: refused, as every quote must select SHA-1 and SHA-256.
        var hiding = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None), [TpmAlgorithm.Sha256]);
        await TpmRefusalTests.AssertRefusedAsync(scenario, client, hiding, "PcrBankNotQuoted", "InvalidEvidence");

        // Quoting both: the SHA-1 bank holds the Debian boot, not the presented log's replay.
        var both = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        await TpmRefusalTests.AssertRefusedAsync(scenario, client, both, "EventLogReplayMismatch", "InvalidEvidence");
    }

    [Fact]
    [Trait("Attack", "A80")]
    public async Task TPM_with_an_active_bank_the_log_does_not_extend_is_refused_even_where_SHA1_is_allowed()
    {
        // swtpm has SHA-1 and SHA-256 active; the Debian 10 log extends SHA-1 only, so the SHA-256 PCRs hold whatever
        // software put there.
        await using var scenario = await TpmScenario.StartAsync("Debian10GCE");
        await scenario.Admin.SetPolicyStateAsync(BankPolicy, "disabled", CancellationToken.None);
        await scenario.AddBaselineAsync("Debian10GCE");
        var host = await scenario.EnrolAsync("sha1-log", logName: "Debian10GCE");
        using var client = host.Client();

        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)),
            "PcrBankNotInLog", "InvalidEvidence");
        Assert.Contains("sha256", refused.Reasons[0].Message, StringComparison.Ordinal);
        Assert.Equal(1, await RefusedAttestationsAsync(scenario, "PcrBankNotInLog"));
    }

    [Fact]
    [Trait("Attack", "A81")]
    public async Task SHA1_only_firmware_is_refused_by_default_for_baselines_and_attestation()
    {
        await using var scenario = await TpmScenario.StartAsync("Debian10GCE", pcrBanks: "sha1");
        long baselines = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM baselines");

        var baseline = await Assert.ThrowsAsync<HgsClientException>(() => scenario.AddBaselineAsync("Debian10GCE"));
        Assert.Equal("BaselineSha1NotAllowed", baseline.Code);
        Assert.Contains(BankPolicy, baseline.Message, StringComparison.Ordinal);
        Assert.Equal(baselines, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM baselines"));

        var host = await scenario.EnrolAsync("sha1-host", logName: "Debian10GCE");
        using var client = host.Client();
        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)),
            "PolicyFailed", "InsecureHostConfiguration");
        Assert.Equal(BankPolicy, refused.Reasons[0].Policy);
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync(
            $"SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason LIKE '{BankPolicy}%'"));
    }

    [Fact]
    public async Task SHA1_only_firmware_attests_where_the_admin_allows_SHA1()
    {
        await using var scenario = await TpmScenario.StartAsync("Debian10GCE", pcrBanks: "sha1");
        await scenario.Admin.SetPolicyStateAsync(BankPolicy, "disabled", CancellationToken.None);
        await scenario.AddBaselineAsync("Debian10GCE");
        var host = await scenario.EnrolAsync("sha1-host", logName: "Debian10GCE");
        using var client = host.Client();

        var evidence = client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None));
        var quote = (QuoteInfo)TpmsAttest.Parse(Convert.FromBase64String(evidence.Tpm!.Quote)).Attested;
        Assert.Equal([TpmAlgorithm.Sha1], quote.PcrSelection.Where(s => s.Pcrs.Count > 0).Select(s => s.Hash));
        Assert.Contains(quote.PcrSelection, s => s is { Hash: TpmAlgorithm.Sha256, Pcrs.Count: 0 });   // implemented, inactive: signed empty

        var outcome = await client.SubmitAsync(evidence, CancellationToken.None);
        Assert.True(outcome.Passed, string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}")));
    }

    private static Task<long> RefusedAttestationsAsync(TpmScenario scenario, string reason) =>
        scenario.Service.ExecuteSqlAsync($"SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = '{reason}'");
}
