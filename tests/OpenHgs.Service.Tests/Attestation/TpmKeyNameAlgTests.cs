using System.Security.Cryptography;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Policies;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Tests.Attestation;

/// <summary>
/// A121: the AK's and the certified host key's Names must be SHA-256/384/512. TPM2_Certify attests only the host key's
/// Name, and MakeCredential binds the AK only by its Name: with a SHA-1 Name a key chosen by a collision could stand
/// for another. Real swtpm evidence, otherwise valid (the control passes), with one key made with a SHA-1 nameAlg.
/// </summary>
public sealed class TpmKeyNameAlgTests : IDisposable
{
    private static readonly byte[] LogBytes = TestData.ReadLog("Rhel8GCE");

    // Every policy disabled: the evidence's verdict rests on its cryptographic checks alone.
    private static readonly PolicySnapshot NoPolicies = new(1, PolicyCatalog.All.ToDictionary(p => p.Name, _ => PolicyState.Disabled), []);

    private readonly SwtpmFixture _swtpm = new();

    [Fact]
    [Trait("Attack", "A121")]
    public void An_AK_with_a_SHA1_nameAlg_is_refused_at_attestation()
    {
        var (evidence, nonce) = Evidence(akNameAlg: TpmAlgorithm.Sha1, hostKeyNameAlg: TpmAlgorithm.Sha256);

        var refused = TpmEvidenceChecks.Evaluate(NoPolicies, evidence, nonce).Refused;

        Assert.NotNull(refused);
        var failure = Assert.Single(refused.Failures);
        Assert.Equal((AttestationFailureCode.AkNameAlgRejected, AttestationStatus.InvalidEvidence), (failure.Code, failure.Status));
    }

    [Fact]
    [Trait("Attack", "A121")]
    public void A_certification_of_a_host_key_with_a_SHA1_nameAlg_is_refused()
    {
        var (evidence, nonce, boot) = EvidenceWithBoot(akNameAlg: TpmAlgorithm.Sha256, hostKeyNameAlg: TpmAlgorithm.Sha1);

        Assert.Equal(AttestationFailureCode.HostKeyNameAlgRejected, TpmEvidenceChecks.VerifyHostKey(evidence, nonce, boot)?.Code);
        var refused = TpmEvidenceChecks.Evaluate(NoPolicies, evidence, nonce).Refused;
        Assert.NotNull(refused);
        Assert.Equal(AttestationFailureCode.HostKeyNameAlgRejected, Assert.Single(refused.Failures).Code);
    }

    [Fact]
    public void The_same_evidence_with_SHA256_Names_passes()
    {
        var (evidence, nonce) = Evidence(akNameAlg: TpmAlgorithm.Sha256, hostKeyNameAlg: TpmAlgorithm.Sha256);

        var evaluation = TpmEvidenceChecks.Evaluate(NoPolicies, evidence, nonce);

        Assert.Null(evaluation.Refused);
        Assert.NotNull(evaluation.HostKey);
    }

    public void Dispose() => _swtpm.Dispose();

    /// <summary>Evidence as the host agent builds it (quote of every bank over the log's PCRs, certification of the host key), over a fresh nonce.</summary>
    private (DecodedTpmEvidence Evidence, byte[] Nonce) Evidence(TpmAlgorithm akNameAlg, TpmAlgorithm hostKeyNameAlg) =>
        EvidenceWithBoot(akNameAlg, hostKeyNameAlg) is var (evidence, nonce, _) ? (evidence, nonce) : default;

    private (DecodedTpmEvidence Evidence, byte[] Nonce, BootBinding Boot) EvidenceWithBoot(TpmAlgorithm akNameAlg, TpmAlgorithm hostKeyNameAlg)
    {
        var log = EventLogParser.Parse(LogBytes);
        using var tpm = _swtpm.CreateClient();
        tpm.ExtendEventLog(log, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256]);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048 with { NameAlg = akNameAlg }));
        // Bound to this boot as the client binds it (design change 72), so only the nameAlg is in question.
        var bootPcrs = PcrSelection.Create(TpmAlgorithm.Sha256, AttestedPcrs.Indices(log));
        var bootValues = tpm.PcrRead(TpmAlgorithm.Sha256, bootPcrs.Pcrs);
        byte[] policy = PcrPolicy.Digest(hostKeyNameAlg, bootPcrs, bootValues);
        using var hostKey = tpm.Load(srk, tpm.Create(srk, TpmTemplates.HostEncryptionRsa2048(policy) with { NameAlg = hostKeyNameAlg }));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var quote = tpm.Quote(ak, nonce, [.. log.Banks.Union(AttestedPcrs.ProbedBanks).Select(b => AttestedPcrs.For(log, b))]);
        var certify = tpm.Certify(hostKey, ak, nonce);

        // The EK is not read by these checks (the registration is looked up before them, by its thumbprint).
        return (new DecodedTpmEvidence([], ak.Public, ak.Public.ToBytes(), quote.AttestBytes, quote.Signature.ToBytes(),
            hostKey.Public, certify.AttestBytes, certify.Signature.ToBytes(), LogBytes), nonce, new BootBinding(bootPcrs, bootValues));
    }
}
