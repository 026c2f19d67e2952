using OpenHgs.Service.Attestation;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// What the caller of <c>/attestation/v1/attest</c> is told of a verdict (Vault's rule, as for internal errors: the
/// precise reason is kept for the admin, the caller gets the generic one). A TPM verdict of <c>EkNotRegistered</c> and
/// one of <c>AkNotActivated</c> are answered byte for byte alike: otherwise anyone holding only an EK's public key (it
/// is not secret) learns whether that EK is registered here (design change 80, A141). The stored verdict, the audit
/// record's reason, the log and the metrics keep the precise code; only this answer is changed.
/// </summary>
internal static class CallerVerdict
{
    /// <summary>
    /// The one reason both are answered with. Its code stays <c>AkNotActivated</c>, which is true of both (no AK is
    /// activated for an EK that is not registered) and is what clients already answer by running the AK activation; the
    /// activation then tells the TPM that holds the EK, and only it, whether the EK is registered.
    /// </summary>
    internal static readonly AttestationFailure TpmIdentityNotRecognised = AttestationFailure.Of(AttestationFailureCode.AkNotActivated,
        "No attestation key is activated here for this EK; run the AK activation (hgs client configure --tpm), which tells the TPM holding the EK whether it is registered.");

    public static AttestationVerdict Of(AttestationVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        return verdict.Failures.Any(IsTpmIdentity)
            ? verdict with { Failures = [.. verdict.Failures.Select(f => IsTpmIdentity(f) ? TpmIdentityNotRecognised : f).Distinct()] }
            : verdict;
    }

    private static bool IsTpmIdentity(AttestationFailure failure) =>
        failure.Code is AttestationFailureCode.EkNotRegistered or AttestationFailureCode.AkNotActivated;
}
