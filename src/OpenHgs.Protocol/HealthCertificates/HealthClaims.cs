namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>How the host proved its health.</summary>
public enum AttestationMode
{
    /// <summary>A registered host signing key (HGS "admin-trusted / host key" mode).</summary>
    HostKey,

    /// <summary>TPM 2.0 measured boot (HGS "TPM-trusted" mode).</summary>
    Tpm,
}

/// <summary>
/// The verdict a health certificate carries in its private extension: what was attested, under which
/// policy version, over which evidence, for which host, and when.
/// </summary>
/// <param name="Mode">Attestation mode that passed.</param>
/// <param name="PolicyVersion">Version of the policy set the verdict was reached under.</param>
/// <param name="EvidenceDigest">SHA-256 of the evidence the host presented.</param>
/// <param name="HostName">The registered host name.</param>
/// <param name="IssuedAt">When the attestation service issued the certificate (compared with the deny-before date).</param>
public sealed record HealthClaims(AttestationMode Mode, int PolicyVersion, byte[] EvidenceDigest, string HostName, DateTimeOffset IssuedAt);
