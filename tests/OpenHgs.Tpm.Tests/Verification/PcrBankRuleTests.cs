using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Verification;

/// <summary>
/// The bank rule (issue 9 §4) over the corpus: which banks a log declares and replays, which bank policies read, and how
/// a quote's signed selection is judged against the log's banks (a TPM signs an empty selection for an inactive bank).
/// </summary>
public sealed class PcrBankRuleTests
{
    private static readonly TpmAlgorithm[] Probed = [.. AttestedPcrs.ProbedBanks];

    public static TheoryData<string> Logs => TestData.LogNames;

    [Theory]
    [MemberData(nameof(Logs))]
    public void Every_declared_bank_replays_to_the_manifest_values_through_the_quoted_selection(string name)
    {
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        var selections = AttestedPcrs.ForEveryBank(log);

        Assert.Equal(log.Banks.Distinct(), selections.Select(s => s.Hash));
        foreach (var (bankName, expected) in TestData.Entry(name).ExpectedPcrs)
        {
            Assert.True(TpmAlgorithms.TryParseName(bankName, out var bank));
            var selection = Assert.Single(selections, s => s.Hash == bank);
            Assert.Superset(new HashSet<int>([0, 1, 2, 3, 4, 5, 6, 7]), selection.Pcrs.ToHashSet());
            var replayed = AttestedPcrs.Replayed(log, selection);
            foreach (var (pcr, hex) in expected.Where(p => p.Key <= AttestedPcrs.LastStaticPcr))
            {
                Assert.Equal(hex, Convert.ToHexStringLower(replayed[pcr]));
            }
        }
    }

    [Fact]
    public void Debian_10_is_a_SHA1_only_log_whose_policy_bank_is_SHA1()
    {
        var log = EventLogParser.Parse(TestData.ReadLog("Debian10GCE"));

        Assert.Equal([TpmAlgorithm.Sha1], log.Banks);
        Assert.Equal(TpmAlgorithm.Sha1, AttestedPcrs.PolicyBank(log));
        Assert.Throws<ArgumentException>(() => AttestedPcrs.Replayed(log, AttestedPcrs.For(log, TpmAlgorithm.Sha256)));
    }

    [Fact]
    public void Crypto_agile_logs_have_SHA256_as_policy_bank()
    {
        var log = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE"));
        Assert.Equal(TpmAlgorithm.Sha256, AttestedPcrs.PolicyBank(log));
        Assert.Equal(TpmAlgorithm.Sha1, AttestedPcrs.PolicyBank([TpmAlgorithm.Sha1, TpmAlgorithm.Sha384]));
        Assert.Null(AttestedPcrs.PolicyBank([TpmAlgorithm.Sha384]));
    }

    [Fact]
    public void Quote_of_every_declared_bank_active_passes()
    {
        var result = QuoteVerifier.CheckBanks([Sel(TpmAlgorithm.Sha1), Sel(TpmAlgorithm.Sha256)], [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256], Probed);
        Assert.True(result.Succeeded, result.Detail);
    }

    [Fact]
    public void Active_bank_the_log_does_not_declare_is_refused()
    {
        // SHA-1-only firmware (Debian 10), SHA-256 active too: software could have filled the SHA-256 PCRs.
        var result = QuoteVerifier.CheckBanks([Sel(TpmAlgorithm.Sha1), Sel(TpmAlgorithm.Sha256)], [TpmAlgorithm.Sha1], Probed);
        Assert.Equal(AttestationFailure.PcrBankNotDeclared, result.Failure);
        Assert.Contains("sha256", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Quote_that_does_not_select_a_declared_or_probed_bank_is_refused()
    {
        var declaredMissing = QuoteVerifier.CheckBanks([Sel(TpmAlgorithm.Sha1), Sel(TpmAlgorithm.Sha256)],
            [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256, TpmAlgorithm.Sha384], Probed);
        Assert.Equal(AttestationFailure.PcrBankNotQuoted, declaredMissing.Failure);
        Assert.Contains("sha384", declaredMissing.Detail, StringComparison.Ordinal);

        // Hiding the SHA-1 bank the firmware extended, to present a SHA-256-only log root replayed into SHA-256.
        var hidden = QuoteVerifier.CheckBanks([Sel(TpmAlgorithm.Sha256)], [TpmAlgorithm.Sha256], Probed);
        Assert.Equal(AttestationFailure.PcrBankNotQuoted, hidden.Failure);
        Assert.Contains("sha1", hidden.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Declared_bank_the_TPM_signed_as_inactive_is_allowed_and_not_active()
    {
        // The GCE logs declare SHA-384 too; a TPM without that bank allocated answers an empty selection for it.
        PcrSelection[] quoted = [Sel(TpmAlgorithm.Sha1), Sel(TpmAlgorithm.Sha256), new(TpmAlgorithm.Sha384, [])];
        var result = QuoteVerifier.CheckBanks(quoted, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256, TpmAlgorithm.Sha384], Probed);
        Assert.True(result.Succeeded, result.Detail);
        Assert.Equal([TpmAlgorithm.Sha1, TpmAlgorithm.Sha256], QuoteVerifier.ActiveBanks(quoted));
    }

    private static PcrSelection Sel(TpmAlgorithm bank) => PcrSelection.Create(bank, [0, 1, 2, 3, 4, 5, 6, 7]);
}
