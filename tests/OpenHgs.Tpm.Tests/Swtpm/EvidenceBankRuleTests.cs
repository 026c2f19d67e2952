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

    public void Dispose() => _swtpm.Dispose();

    /// <summary>
    /// Boots the swtpm (both banks active) with the good log in both banks, or (<paramref name="rootFilled"/>) with the
    /// SHA-1 firmware log and, after boot, the good log extended by root into SHA-256; quotes the good log's PCRs in
    /// <paramref name="banks"/> and verifies the good log against it.
    /// </summary>
    private (EvidenceReport Report, IReadOnlyList<PcrSelection> Quoted) Quote(bool rootFilled, TpmAlgorithm[] banks)
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
        var report = EvidenceVerifier.Verify(new EvidenceInput(ak.Public, quote.AttestBytes, attest, quote.Signature, Good, nonce, []));
        return (report, ((QuoteInfo)attest.Attested).PcrSelection);
    }
}
