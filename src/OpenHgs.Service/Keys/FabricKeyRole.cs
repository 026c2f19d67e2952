namespace OpenHgs.Service.Keys;

/// <summary>The fabric's key roles (HGS: encryption and signing certificates, plus the attestation signer).</summary>
public enum FabricKeyRole
{
    /// <summary>KPS encryption key: transport keys are wrapped to it (RSA, decrypt only).</summary>
    Encryption,

    /// <summary>KPS signing key: signs the fabric guardian's encryption certificates and rolled key protectors.</summary>
    Signing,

    /// <summary>Attestation signer: signs health certificates (ECDSA P-256).</summary>
    AttestationSigner,
}

public static class FabricKeyRoles
{
    /// <summary>The role's name on the wire, in the database and on the command line.</summary>
    public static string ToName(this FabricKeyRole role) => role switch
    {
        FabricKeyRole.Encryption => "encryption",
        FabricKeyRole.Signing => "signing",
        FabricKeyRole.AttestationSigner => "attestation-signer",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };

    public static FabricKeyRole Parse(string name) => name switch
    {
        "encryption" => FabricKeyRole.Encryption,
        "signing" => FabricKeyRole.Signing,
        "attestation-signer" => FabricKeyRole.AttestationSigner,
        _ => throw ServiceException.BadRequest("UnknownKeyRole", $"Unknown key role '{name}': use encryption, signing or attestation-signer."),
    };
}
