using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>What a TPM2_Certify of the host encryption key is checked against.</summary>
/// <param name="AttestBytes">The exact TPMS_ATTEST bytes signed.</param>
/// <param name="Signature">The TPMT_SIGNATURE bytes.</param>
/// <param name="AttestationKey">The AK public area.</param>
/// <param name="Nonce">The issued nonce (extraData).</param>
/// <param name="CertifiedKey">The host encryption key's TPMT_PUBLIC as presented by the host.</param>
/// <param name="ExpectedQualifiedSigner">The AK's Qualified Name, when known.</param>
public sealed record CertifyVerificationInput(
    byte[] AttestBytes,
    byte[] Signature,
    TpmtPublic AttestationKey,
    byte[] Nonce,
    TpmtPublic CertifiedKey,
    byte[]? ExpectedQualifiedSigner = null);

/// <summary>
/// Verifies a TPM2_Certify of a host encryption key: the common attestation checks, then that the certified
/// Name is H(presented TPMT_PUBLIC) and that the key is TPM-resident and decrypt-only
/// (fixedTPM, fixedParent, sensitiveDataOrigin, decrypt; not sign, not restricted).
/// </summary>
public static class CertifyVerifier
{
    /// <summary>Attributes the certified key must have.</summary>
    public const ObjectAttributes Required = ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent
        | ObjectAttributes.SensitiveDataOrigin | ObjectAttributes.Decrypt;

    /// <summary>Attributes the certified key must not have.</summary>
    public const ObjectAttributes Forbidden = ObjectAttributes.Sign | ObjectAttributes.Restricted;

    /// <summary>Runs every check in order and returns the first failure.</summary>
    public static VerificationResult Verify(CertifyVerificationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        TpmsAttest attest;
        TpmtSignature signature;
        try
        {
            attest = TpmsAttest.Parse(input.AttestBytes);
            signature = TpmtSignature.Parse(input.Signature);
        }
        catch (TpmFormatException e)
        {
            return VerificationResult.Fail(AttestationFailure.MalformedEvidence, e.Message);
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
        return VerificationResult.Ok;
    }
}
