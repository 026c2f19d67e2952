using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Tests.Support;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

/// <summary>
/// <see cref="EvidenceVerifier"/> cases the tpm2-tools end-to-end tests do not reach: a certification presented as a
/// quote, a quoted bank the log lacks, a key that is not a restricted signing key. Each names its check and code and
/// leaves the checks it makes meaningless as not-checked (never passed).
/// </summary>
[Collection(SwtpmCollection.Name)]
public sealed class EvidenceVerifierTests(SwtpmFixture swtpm) : SwtpmTestBase(swtpm)
{
    private static readonly EventLog Rhel8 = EventLogParser.Parse(TestData.ReadLog("Rhel8GCE"));

    [Fact]
    public void A_certification_is_not_a_quote_and_no_pcr_is_attested()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var certify = tpm.Certify(srk, ak, nonce);

        var report = EvidenceVerifier.Verify(Input(ak.Public, certify.AttestBytes, certify.Signature, Rhel8, nonce));

        Assert.False(report.Passed);
        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.WrongAttestationType), Outcome(report, EvidenceVerifier.SignatureCheck));
        Assert.Equal(EvidenceCheckStatus.Passed, Outcome(report, EvidenceVerifier.NonceCheck).Status);
        Assert.Equal(EvidenceCheckStatus.NotChecked, Outcome(report, EvidenceVerifier.PcrSelectionCheck).Status);
        Assert.Equal(EvidenceCheckStatus.NotChecked, Outcome(report, EvidenceVerifier.PcrDigestCheck).Status);
        Assert.Empty(report.Pcrs);
        Assert.False(report.SecureBootAttested);
    }

    [Fact]
    public void A_quoted_bank_the_log_lacks_fails_the_selection_and_the_digest_is_not_checked()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var quote = tpm.Quote(ak, [1, 2, 3], [PcrSelection.Create(TpmAlgorithm.Sha256, [0, 7])]);
        var sha1Only = EventLogParser.Parse(TestData.ReadLog("Debian10GCE"));
        Assert.Equal([TpmAlgorithm.Sha1], sha1Only.Banks);

        var report = EvidenceVerifier.Verify(Input(ak.Public, quote.AttestBytes, quote.Signature, sha1Only, nonce: null));

        Assert.Equal(EvidenceCheckStatus.Passed, Outcome(report, EvidenceVerifier.SignatureCheck).Status);
        Assert.Equal(EvidenceCheckStatus.NotChecked, Outcome(report, EvidenceVerifier.NonceCheck).Status);
        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.PcrSelectionMismatch), Outcome(report, EvidenceVerifier.PcrSelectionCheck));
        Assert.Equal(EvidenceCheckStatus.NotChecked, Outcome(report, EvidenceVerifier.PcrDigestCheck).Status);
        Assert.All(report.Pcrs, p => Assert.Equal(PcrVerdict.NotAttested, p.Verdict));
        Assert.Equal([TpmAlgorithm.Sha1], report.UnquotedLogBanks);
    }

    [Fact]
    [Trait("Attack", "A82")]
    public void A_signature_by_a_key_that_is_not_a_restricted_signing_key_is_refused()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var quote = tpm.Quote(ak, [1, 2, 3], [PcrSelection.Create(TpmAlgorithm.Sha256, [0])]);
        // The same key material presented without "restricted": a key that could sign anything, including a forged TPMS_ATTEST.
        var unrestricted = ak.Public with { Attributes = ak.Public.Attributes & ~ObjectAttributes.Restricted };

        var report = EvidenceVerifier.Verify(Input(unrestricted, quote.AttestBytes, quote.Signature, Rhel8, [1, 2, 3]));

        Assert.Equal((EvidenceCheckStatus.Failed, AttestationFailure.SigningKeyNotRestricted), Outcome(report, EvidenceVerifier.SignatureCheck));
        Assert.False(report.Passed);
    }

    private static EvidenceInput Input(TpmtPublic ak, byte[] attestBytes, TpmtSignature signature, EventLog log, byte[]? nonce) =>
        new(ak, attestBytes, TpmsAttest.Parse(attestBytes), signature, log, nonce, []);

    private static (EvidenceCheckStatus Status, AttestationFailure? Failure) Outcome(EvidenceReport report, string check)
    {
        var c = report.Checks.Single(c => c.Name == check);
        return (c.Status, c.Failure);
    }
}
