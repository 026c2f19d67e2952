using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Commands;

/// <summary>Key templates (TPMT_PUBLIC with empty unique fields) for the keys the host agent uses.</summary>
public static class TpmTemplates
{
    /// <summary>
    /// The EK policy: PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256 (TCG EK Credential Profile, template L-1).
    /// </summary>
    public static byte[] EkPolicySha256 { get; } = Convert.FromHexString("837197674484B3F81A90CC8D46A5D724FD52D76E06520B64F2A1DA1B331469AA");

    /// <summary>
    /// TCG EK Credential Profile 2.0 template L-1: RSA-2048 restricted decrypt, AES-128-CFB, adminWithPolicy
    /// with <see cref="EkPolicySha256"/>, unique = 256 zero bytes. CreatePrimary(endorsement, this) yields the
    /// same key as the manufacturer's EK (and the certificate at NV 0x01C00002).
    /// </summary>
    public static TpmtPublic EkRsa2048 { get; } = new(TpmAlgorithm.Rsa, TpmAlgorithm.Sha256,
        ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent | ObjectAttributes.SensitiveDataOrigin
        | ObjectAttributes.AdminWithPolicy | ObjectAttributes.Restricted | ObjectAttributes.Decrypt,
        EkPolicySha256,
        new RsaParameters(SymmetricDefinition.Aes128Cfb, AsymmetricScheme.Null, 2048, 0, new byte[256]));

    /// <summary>
    /// A storage root key (TCG provisioning guidance SRK template): RSA-2048 restricted decrypt, AES-128-CFB,
    /// userWithAuth, noDA, unique = 256 zero bytes.
    /// </summary>
    public static TpmtPublic SrkRsa2048 { get; } = new(TpmAlgorithm.Rsa, TpmAlgorithm.Sha256,
        ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent | ObjectAttributes.SensitiveDataOrigin
        | ObjectAttributes.UserWithAuth | ObjectAttributes.NoDa | ObjectAttributes.Restricted | ObjectAttributes.Decrypt,
        [],
        new RsaParameters(SymmetricDefinition.Aes128Cfb, AsymmetricScheme.Null, 2048, 0, new byte[256]));

    /// <summary>Attestation key: RSA-2048 restricted signing, RSASSA-SHA256, fixedTPM/fixedParent, userWithAuth.</summary>
    public static TpmtPublic AkRsa2048 { get; } = new(TpmAlgorithm.Rsa, TpmAlgorithm.Sha256,
        ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent | ObjectAttributes.SensitiveDataOrigin
        | ObjectAttributes.UserWithAuth | ObjectAttributes.Restricted | ObjectAttributes.Sign,
        [],
        new RsaParameters(SymmetricDefinition.Null, new AsymmetricScheme(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256), 2048, 0, []));

    /// <summary>Attestation key: ECC P-256 restricted signing, ECDSA-SHA256.</summary>
    public static TpmtPublic AkEccP256 { get; } = new(TpmAlgorithm.Ecc, TpmAlgorithm.Sha256,
        ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent | ObjectAttributes.SensitiveDataOrigin
        | ObjectAttributes.UserWithAuth | ObjectAttributes.Restricted | ObjectAttributes.Sign,
        [],
        new EccParameters(SymmetricDefinition.Null, new AsymmetricScheme(TpmAlgorithm.EcDsa, TpmAlgorithm.Sha256),
            EccCurve.NistP256, AsymmetricScheme.Null, [], []));

    /// <summary>The host encryption key's nameAlg, which is also the hash of its policy digest and policy sessions.</summary>
    public const TpmAlgorithm HostEncryptionNameAlg = TpmAlgorithm.Sha256;

    /// <summary>
    /// Host encryption key: RSA-2048, decrypt-only (not sign, not restricted), fixedTPM/fixedParent, scheme NULL so
    /// TPM2_RSA_Decrypt chooses OAEP per call. Bound to a boot: <paramref name="authPolicy"/> is a PolicyPCR digest
    /// (<see cref="Verification.PcrPolicy"/>) of the PCR values the host booted with, and userWithAuth is clear, so the TPM
    /// decrypts with it (a USER-role command) only in a policy session over those same values — after a reboot into other
    /// software, never. adminWithPolicy is clear too, so TPM2_Certify (an ADMIN-role command) still authorises with the
    /// empty authValue and needs no PCR policy.
    /// </summary>
    public static TpmtPublic HostEncryptionRsa2048(byte[] authPolicy)
    {
        ArgumentNullException.ThrowIfNull(authPolicy);
        return new(TpmAlgorithm.Rsa, HostEncryptionNameAlg,
            ObjectAttributes.FixedTpm | ObjectAttributes.FixedParent | ObjectAttributes.SensitiveDataOrigin | ObjectAttributes.Decrypt,
            authPolicy,
            new RsaParameters(SymmetricDefinition.Null, AsymmetricScheme.Null, 2048, 0, []));
    }
}
