using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>What a TPM2_Certify of the host encryption key is checked against.</summary>
/// <param name="AttestBytes">The exact TPMS_ATTEST bytes signed.</param>
/// <param name="Signature">The TPMT_SIGNATURE bytes.</param>
/// <param name="AttestationKey">The AK public area.</param>
/// <param name="Nonce">The issued nonce (extraData).</param>
/// <param name="CertifiedKey">The host encryption key's TPMT_PUBLIC as presented by the host.</param>
/// <param name="Boot">The attested PCR values the key's authPolicy must bind it to.</param>
/// <param name="ExpectedQualifiedSigner">The AK's Qualified Name, when known.</param>
public sealed record CertifyVerificationInput(
    byte[] AttestBytes,
    byte[] Signature,
    TpmtPublic AttestationKey,
    byte[] Nonce,
    TpmtPublic CertifiedKey,
    BootBinding Boot,
    byte[]? ExpectedQualifiedSigner = null);

/// <summary>
/// The boot a certified key must be bound to: PCR values already proven (quote-verified, or replayed from a log whose
/// replay the quote verified) and the selection the key's PolicyPCR covers — the quote's, in one bank.
/// </summary>
/// <param name="Selection">The PCRs of one bank.</param>
/// <param name="Values">A value for every PCR of <paramref name="Selection"/>.</param>
public sealed record BootBinding(PcrSelection Selection, IReadOnlyDictionary<int, byte[]> Values);

/// <summary>
/// Verifies a TPM2_Certify of a host encryption key: the common attestation checks, then that the certified
/// Name is H(presented TPMT_PUBLIC), that the key is TPM-resident and decrypt-only
/// (fixedTPM, fixedParent, sensitiveDataOrigin, decrypt; not sign, not restricted), and that the TPM lets it be used only
/// in the attested boot: userWithAuth clear and authPolicy the PolicyPCR digest of the attested values
/// (<see cref="CertifyVerificationInput.Boot"/>), so the key released to after this attestation decrypts nothing once
/// the host runs other software.
/// </summary>
public static class CertifyVerifier
{
    /// <summary>Attributes the certified key must have.</summary>
    public const ObjectAttributes Required = ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent
        | ObjectAttributes.SensitiveDataOrigin | ObjectAttributes.Decrypt;

    /// <summary>Attributes the certified key must not have (userWithAuth would let its empty authValue stand in for the PCR policy).</summary>
    public const ObjectAttributes Forbidden = ObjectAttributes.Sign | ObjectAttributes.Restricted | ObjectAttributes.UserWithAuth;

    /// <summary>Runs every check in order and returns the first failure.</summary>
    public static VerificationResult Verify(CertifyVerificationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!AttestChecks.TryParse(input.AttestBytes, input.Signature, out var attest, out var signature, out var malformed))
        {
            return malformed;
        }

        var common = AttestChecks.Common(attest, signature, input.AttestBytes, input.AttestationKey, input.Nonce,
            input.ExpectedQualifiedSigner, TpmsAttest.AttestCertify);
        if (!common.Succeeded)
        {
            return common;
        }

        var info = (CertifyInfo)attest.Attested;
        byte[] name;
        try
        {
            name = input.CertifiedKey.ComputeName();
        }
        catch (NotSupportedException e)
        {
            return VerificationResult.Fail(AttestationFailure.CertifiedNameMismatch, e.Message);
        }
        if (!info.Name.AsSpan().SequenceEqual(name))
        {
            return VerificationResult.Fail(AttestationFailure.CertifiedNameMismatch, "the certified Name is not H(presented public key)");
        }
        var attributes = input.CertifiedKey.Attributes;
        if ((attributes & Required) != Required || (attributes & Forbidden) != 0)
        {
            return VerificationResult.Fail(AttestationFailure.CertifiedKeyAttributes,
                $"certified key attributes {attributes}: need {Required}, forbid {Forbidden}");
        }
        return VerifyBoundToBoot(input.CertifiedKey, input.Boot);
    }

    /// <summary>authPolicy == PolicyPCR(nameAlg, the boot's selection and values): nothing else lets the key be used.</summary>
    public static VerificationResult VerifyBoundToBoot(TpmtPublic key, BootBinding boot)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(boot);
        byte[] expected;
        try
        {
            expected = PcrPolicy.Digest(key.NameAlg, boot.Selection, boot.Values);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            return VerificationResult.Fail(AttestationFailure.CertifiedKeyNotBoundToBoot, e.Message);
        }

        return key.AuthPolicy.AsSpan().SequenceEqual(expected)
            ? VerificationResult.Ok
            : VerificationResult.Fail(AttestationFailure.CertifiedKeyNotBoundToBoot,
                $"authPolicy {Convert.ToHexStringLower(key.AuthPolicy)} is not PolicyPCR({boot.Selection.Hash.Name()}:{string.Join(",", boot.Selection.Pcrs)}) of the attested values ({Convert.ToHexStringLower(expected)})");
    }
}
