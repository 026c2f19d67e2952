using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

/// <summary>
/// The offline verifier (hgs evidence verify, and --policy-from on top of it) applies the service's bank rule
/// (<see cref="QuoteVerifier.CheckBanks"/>). A79 against the offline tool: the firmware extends only SHA-1; root fills
/// the unextended SHA-256 bank with a good host's log and quotes it. Every other check passes (the signature, the
/// nonce, the digest of a replay that is really in the TPM), so without the rule the evidence passed with Secure Boot
/// "attested".
/// </summary>
public sealed class EvidenceBankRuleTests : IDisposable
{
    private static readonly EventLog Firmware = EventLogParser.Parse(TestData.ReadLog("Debian10GCE"));   // SHA-1-only firmware
    private static readonly EventLog Good = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE"));          // a good host's log

    private readonly SwtpmFixture _swtpm = new();

    [Fact]
    [Trait("Attack", "A120")]
    public void A_sha256_bank_filled_by_root_and_quoted_alone_fails_the_bank_rule()
    {
        var (report, quoted) = Quote(rootFilled: true, [TpmAlgorithm.Sha256]);

        Assert.False(report.Passed);
        var banks = report.Check(EvidenceVerifier.PcrBanksCheck);
        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.PcrBankNotQuoted), (banks.Status, banks.Failure));
        Assert.False(report.SecureBootAttested);
        Assert.All(report.Pcrs, p => Assert.NotEqual(PcrVerdict.Attested, p.Verdict));
        // The same function the service runs over the same signed selection, with the same result.
        Assert.Equal(banks.Failure, QuoteVerifier.CheckBanks(quoted, Good.Banks, AttestedPcrs.ProbedBanks).Failure);
    }

    [Fact]
    public void An_honest_quote_of_every_active_bank_passes_the_bank_rule()
    {
        // As the host agent quotes: every bank the log declares (SHA-384 here, inactive in this TPM: signed as an empty
        // selection) and the probed SHA-1 and SHA-256.
        var (report, _) = Quote(rootFilled: false, [.. Good.Banks.Union(AttestedPcrs.ProbedBanks)]);

        Assert.True(report.Passed, string.Join("; ", report.Checks.Select(c => $"{c.Name} {c.Status} {c.Detail}")));
        Assert.Equal(EvidenceCheckStatus.Passed, report.Check(EvidenceVerifier.PcrBanksCheck).Status);
        Assert.Equal([TpmAlgorithm.Sha1, TpmAlgorithm.Sha256], report.ActiveBanks);
        Assert.True(report.SecureBootAttested);
    }

    [Fact]
    public void A_required_pcr_in_a_bank_the_tpm_signed_inactive_is_judged_as_the_service_judges_it()
    {
        // --pcrs sha384:0-7 and sha256:0-7: the swtpm has SHA-384 inactive, so the honest quote selects it empty. The
        // service skips a requirement in such a bank once the bank rule passed; the offline verifier used to fail it.
        IReadOnlyList<PcrSelection> required = [new(TpmAlgorithm.Sha384, [0, 1, 2, 3, 4, 5, 6, 7]), new(TpmAlgorithm.Sha256, [0, 1, 2, 3, 4, 5, 6, 7])];
        var (report, quoted) = Quote(rootFilled: false, [.. Good.Banks.Union(AttestedPcrs.ProbedBanks)], required);

        Assert.True(report.Passed, string.Join("; ", report.Checks.Select(c => $"{c.Name} {c.Status} {c.Detail}")));
        var selection = report.Check(EvidenceVerifier.PcrSelectionCheck);
        Assert.Contains("the required sha384 PCRs are in a bank the TPM signed as inactive", selection.Detail, StringComparison.Ordinal);
        Assert.True(report.SecureBootAttested);
        // The one rule, as the service's quote verification applies it.
        Assert.True(QuoteVerifier.CheckRequiredPcrs(quoted, required, bankRulePassed: true, out var inactive).Succeeded);
        Assert.Equal([TpmAlgorithm.Sha384], inactive);
    }

    [Fact]
    public void A_required_pcr_is_still_refused_where_the_bank_is_active_or_was_not_shown_inactive()
    {
        // An active bank: a required PCR the quote leaves out fails, named.
        var (active, _) = Quote(rootFilled: false, [.. Good.Banks.Union(AttestedPcrs.ProbedBanks)], [new(TpmAlgorithm.Sha256, [16])]);
        var missing = active.Check(EvidenceVerifier.PcrSelectionCheck);
        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.PcrSelectionMismatch), (missing.Status, missing.Failure));
        Assert.Contains("does not cover sha256 PCR 16", missing.Detail, StringComparison.Ordinal);

        // SHA-384 not selected at all: the TPM never said it is inactive (and the bank rule fails), so the requirement stands.
        var (unselected, quoted) = Quote(rootFilled: false, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256], [new(TpmAlgorithm.Sha384, [0])]);
        Assert.Equal(EvidenceCheckStatus.Failed, unselected.Check(EvidenceVerifier.PcrBanksCheck).Status);
        var stands = unselected.Check(EvidenceVerifier.PcrSelectionCheck);
        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.PcrSelectionMismatch), (stands.Status, stands.Failure));
        Assert.False(QuoteVerifier.CheckRequiredPcrs(quoted, [new(TpmAlgorithm.Sha384, [0])], bankRulePassed: true, out _).Succeeded);
    }

    public void Dispose() => _swtpm.Dispose();

    /// <summary>
    /// Boots the swtpm (both banks active) with the good log in both banks, or (<paramref name="rootFilled"/>) with the
    /// SHA-1 firmware log and, after boot, the good log extended by root into SHA-256; quotes the good log's PCRs in
    /// <paramref name="banks"/> and verifies the good log against it.
    /// </summary>
    private (EvidenceReport Report, IReadOnlyList<PcrSelection> Quoted) Quote(bool rootFilled, TpmAlgorithm[] banks, IReadOnlyList<PcrSelection>? required = null)
    {
        using var tpm = _swtpm.CreateClient();
        if (rootFilled)
        {
            tpm.ExtendEventLog(Firmware, [TpmAlgorithm.Sha1]);
            tpm.ExtendEventLog(Good, [TpmAlgorithm.Sha256]);
        }
        else
        {
            tpm.ExtendEventLog(Good, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256]);
        }

        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var quote = tpm.Quote(ak, nonce, banks.Select(b => AttestedPcrs.For(Good, b)).ToList());
        var attest = TpmsAttest.Parse(quote.AttestBytes);
        var report = EvidenceVerifier.Verify(new EvidenceInput(ak.Public, quote.AttestBytes, attest, quote.Signature, Good, nonce, required ?? []));
        return (report, ((QuoteInfo)attest.Attested).PcrSelection);
    }
}
