using System.Diagnostics.CodeAnalysis;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;
using TpmFailure = OpenHgs.Tpm.Verification.AttestationFailure;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>Decoded TPM evidence (see <see cref="Protocol.Wire.TpmEvidence"/>).</summary>
internal sealed record DecodedTpmEvidence(
    byte[] EkPublic,
    TpmtPublic Ak,
    byte[] AkPublic,
    byte[] Quote,
    byte[] QuoteSignature,
    TpmtPublic HostKey,
    byte[]? Certify,
    byte[]? CertifySignature,
    byte[] EventLog);

/// <summary>A log replayed in every bank it declares: the selections a quote must cover (in the banks the TPM has active), the values.</summary>
internal sealed record ReplayedLog(
    IReadOnlyList<PcrSelection> Required,
    IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> Values);

/// <summary>
/// The cryptographic checks of TPM evidence, each returning a named <see cref="AttestationFailure"/> or null:
/// the quote (magic, type, nonce, AK attributes, signature, PCR selection, pcrDigest == digest of the replayed log)
/// and the certification of the host encryption key by the same AK over the same nonce.
/// </summary>
internal static class TpmEvidenceChecks
{
    /// <summary>
    /// Replays the log in every bank it declares. Refuses <see cref="AttestationFailureCode.PcrBankUnsupported"/> when a
    /// declared bank cannot be replayed here (it could not be checked against the quote) or the log declares neither bank
    /// policies read (SHA-256, SHA-1).
    /// </summary>
    public static bool TryReplay(EventLog log, [NotNullWhen(true)] out ReplayedLog? replayed, [NotNullWhen(false)] out AttestationFailure? failure)
    {
        replayed = null;
        failure = null;
        var unsupported = log.Banks.Where(b => !b.CanHash()).Select(b => b.Name()).ToList();
        if (unsupported.Count > 0)
        {
            failure = AttestationFailure.Of(AttestationFailureCode.PcrBankUnsupported,
                $"The event log declares the {string.Join(",", unsupported)} bank(s), which this service cannot replay; they could not be checked against the quote.");
            return false;
        }

        if (AttestedPcrs.PolicyBank(log) is null)
        {
            failure = AttestationFailure.Of(AttestationFailureCode.PcrBankUnsupported,
                $"The event log declares neither SHA-256 nor SHA-1 (only {string.Join(",", log.Banks.Select(b => b.Name()))}); policies read one of those.");
            return false;
        }

        var required = AttestedPcrs.ForEveryBank(log);
        replayed = new ReplayedLog(required, required.ToDictionary(s => s.Hash, s => (IReadOnlyDictionary<int, byte[]>)AttestedPcrs.Replayed(log, s)));
        return true;
    }

    /// <summary>
    /// The quote over <paramref name="nonce"/>: signature; the bank rule (SHA-1, SHA-256 and every bank the log declares
    /// selected; every bank the TPM signed as active declared by the log); the PCRs of every active bank selected; and
    /// pcrDigest == the digest of the log's replay in every active bank. On success <paramref name="policyBank"/> is the
    /// bank policies read: SHA-256 if the TPM has it active, else SHA-1 (refused <see cref="AttestationFailureCode.PcrBankNotQuoted"/>
    /// when neither is active).
    /// </summary>
    public static AttestationFailure? VerifyQuote(DecodedTpmEvidence evidence, byte[] nonce, EventLog log, ReplayedLog replayed, out TpmAlgorithm policyBank)
    {
        policyBank = TpmAlgorithm.Null;
        var result = QuoteVerifier.Verify(new QuoteVerificationInput(
            evidence.Quote, evidence.QuoteSignature, evidence.Ak, nonce, replayed.Values, replayed.Required,
            DeclaredBanks: log.Banks, ProbedBanks: AttestedPcrs.ProbedBanks));
        if (result.Succeeded)
        {
            var active = QuoteVerifier.ActiveBanks(((QuoteInfo)result.Attest!.Attested).PcrSelection);
            if (AttestedPcrs.PolicyBank(active) is not { } bank)
            {
                return AttestationFailure.Of(AttestationFailureCode.PcrBankNotQuoted,
                    $"The TPM has neither the SHA-256 nor the SHA-1 bank active (active: {string.Join(",", active.Select(b => b.Name()))}); policies read one of those.");
            }

            policyBank = bank;
            return null;
        }

        var code = result.Failure switch
        {
            TpmFailure.MalformedEvidence or TpmFailure.NotTpmGenerated or TpmFailure.WrongAttestationType => AttestationFailureCode.QuoteMalformed,
            TpmFailure.NonceMismatch => AttestationFailureCode.QuoteNonceMismatch,
            TpmFailure.PcrBankNotDeclared => AttestationFailureCode.PcrBankNotInLog,
            TpmFailure.PcrBankNotQuoted => AttestationFailureCode.PcrBankNotQuoted,
            TpmFailure.PcrSelectionMismatch => AttestationFailureCode.QuotePcrSelectionInsufficient,
            TpmFailure.PcrDigestMismatch => AttestationFailureCode.EventLogReplayMismatch,
            _ => AttestationFailureCode.QuoteSignatureInvalid,
        };
        return AttestationFailure.Of(code, $"Quote refused ({result.Failure}): {result.Result.Detail}.");
    }

    public static AttestationFailure? VerifyHostKey(DecodedTpmEvidence evidence, byte[] nonce)
    {
        if (evidence.Certify is null || evidence.CertifySignature is null)
        {
            return AttestationFailure.Of(AttestationFailureCode.HostKeyNotCertified, "The host encryption key is not certified by the attestation key (TPM2_Certify).");
        }

        var result = CertifyVerifier.Verify(new CertifyVerificationInput(evidence.Certify, evidence.CertifySignature, evidence.Ak, nonce, evidence.HostKey));
        return result.Failure switch
        {
            null => null,
            TpmFailure.CertifiedKeyAttributes => AttestationFailure.Of(AttestationFailureCode.HostKeyAttributesRejected,
                $"The host encryption key must be TPM-resident and decrypt-only: {result.Detail}."),
            _ => AttestationFailure.Of(AttestationFailureCode.HostKeyCertificationInvalid, $"The host key certification is refused ({result.Failure}): {result.Detail}."),
        };
    }
}
