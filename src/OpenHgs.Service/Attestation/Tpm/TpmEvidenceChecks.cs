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

/// <summary>
/// The cryptographic checks of TPM evidence, each returning a named <see cref="AttestationFailure"/> or null:
/// the quote (magic, type, nonce, AK attributes, signature, PCR selection, pcrDigest == digest of the replayed log)
/// and the certification of the host encryption key by the same AK over the same nonce.
/// </summary>
internal static class TpmEvidenceChecks
{
    public static AttestationFailure? VerifyQuote(DecodedTpmEvidence evidence, byte[] nonce, EventLog log, IReadOnlyDictionary<int, byte[]> pcrs)
    {
        var required = AttestedPcrs.For(log);
        var result = QuoteVerifier.Verify(new QuoteVerificationInput(
            evidence.Quote, evidence.QuoteSignature, evidence.Ak, nonce,
            new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> { [TpmAlgorithm.Sha256] = pcrs },
            [required]));
        if (result.Succeeded)
        {
            return null;
        }

        var code = result.Failure switch
        {
            TpmFailure.MalformedEvidence or TpmFailure.NotTpmGenerated or TpmFailure.WrongAttestationType => AttestationFailureCode.QuoteMalformed,
            TpmFailure.NonceMismatch => AttestationFailureCode.QuoteNonceMismatch,
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
