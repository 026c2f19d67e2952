namespace OpenHgs.Tpm.Verification;

/// <summary>Why a quote or certification was refused.</summary>
public enum AttestationFailure
{
    /// <summary>The TPMS_ATTEST or TPMT_SIGNATURE bytes are malformed.</summary>
    MalformedEvidence,
    /// <summary>magic is not TPM_GENERATED_VALUE: the TPM did not produce this structure.</summary>
    NotTpmGenerated,
    /// <summary>The attestation is of the wrong type (quote vs certify).</summary>
    WrongAttestationType,
    /// <summary>qualifiedSigner is not the expected signing key's Qualified Name.</summary>
    SignerMismatch,
    /// <summary>extraData is not the expected nonce (stale, foreign or replayed).</summary>
    NonceMismatch,
    /// <summary>The signing key is not a TPM-resident restricted signing key (fixedTPM, restricted, sign).</summary>
    SigningKeyNotRestricted,
    /// <summary>The signature scheme or hash is not accepted or does not match the key.</summary>
    UnsupportedSignature,
    /// <summary>The signature does not verify with the signing key.</summary>
    BadSignature,
    /// <summary>The quote does not select the PCRs the policy requires, or the caller lacks a value for one.</summary>
    PcrSelectionMismatch,
    /// <summary>The quote shows an active (allocated) PCR bank that the event log does not declare: the firmware did not
    /// extend it, so its PCRs hold whatever software put there.</summary>
    PcrBankNotDeclared,
    /// <summary>The quote does not select a bank the event log declares, or one of the banks every quote must select
    /// (<see cref="EventLogs.AttestedPcrs.ProbedBanks"/>).</summary>
    PcrBankNotQuoted,
    /// <summary>pcrDigest differs from the digest of the supplied PCR values.</summary>
    PcrDigestMismatch,
    /// <summary>The certified object's Name differs from the Name of the presented public key.</summary>
    CertifiedNameMismatch,
    /// <summary>The certified key lacks a required attribute (fixedTPM, fixedParent, sensitiveDataOrigin, decrypt) or has a
    /// forbidden one (sign, restricted, userWithAuth: a key usable with its authValue is usable in any boot).</summary>
    CertifiedKeyAttributes,
    /// <summary>The certified key's authPolicy is not the PolicyPCR digest of the attested PCR values: the TPM would let it
    /// decrypt in a boot other than the one attested.</summary>
    CertifiedKeyNotBoundToBoot,
}

/// <summary>Outcome of a verification: success, or the first failing check's named reason with a detail for logs.</summary>
/// <param name="Failure">Null on success.</param>
/// <param name="Detail">Human-readable detail for the log (no key material).</param>
public sealed record VerificationResult(AttestationFailure? Failure, string Detail)
{
    /// <summary>True when every check passed.</summary>
    public bool Succeeded => Failure is null;

    /// <summary>A success.</summary>
    public static VerificationResult Ok { get; } = new(null, "ok");

    internal static VerificationResult Fail(AttestationFailure failure, string detail) => new(failure, detail);
}
