using OpenHgs.Protocol.Wire;

namespace OpenHgs.Service.Attestation;

/// <summary>HGS-style attestation statuses.</summary>
public enum AttestationStatus
{
    Passed,

    /// <summary>The host is not registered, or did not prove possession of its registered key.</summary>
    UnauthorizedHost,

    /// <summary>The evidence is stale, replayed, foreign or malformed.</summary>
    InvalidEvidence,

    /// <summary>The host is known but one or more enabled policies failed.</summary>
    InsecureHostConfiguration,
}

/// <summary>Named reasons an attestation fails; stored in the audit trail and returned to the host.</summary>
public enum AttestationFailureCode
{
    EvidenceMissing,
    ModeMismatch,
    NonceMalformed,

    /// <summary>The nonce was not issued by this cluster: its MAC does not verify under the challenge-MAC key.</summary>
    NonceUnknown,
    NonceExpired,

    /// <summary>The nonce was already used: an attestation (perhaps a concurrent one, on any node) committed it first.</summary>
    NonceReplayed,
    HostKeyNotRegistered,

    /// <summary>The host's registration (host row, AK, activation) fails its MAC: it was changed outside OpenHGS.</summary>
    HostRecordIntegrity,
    SignatureInvalid,
    EncryptionKeyUnsupported,

    // TPM mode (docs/tpm-attestation.md).
    EkNotRegistered,
    AkNotActivated,

    /// <summary>The host's stored EK certificate, or an intermediate of its chain, is on a CRL imported since it registered (design change 75).</summary>
    EkCertificateRevoked,

    /// <summary>A CA of the host's stored EK chain has a CRL past its nextUpdate: whether it revoked the host is unknown (fail closed).</summary>
    EkCertificateCrlExpired,

    /// <summary>A CA of the host's stored EK chain has a CRL row that failed its integrity check (fail closed).</summary>
    EkCertificateCrlUnavailable,

    /// <summary>The AK's nameAlg is not SHA-256, SHA-384 or SHA-512 (refused at activation too, as a 400 with this code).</summary>
    AkNameAlgRejected,
    EventLogMalformed,
    QuoteMalformed,
    QuoteNonceMismatch,
    QuoteSignatureInvalid,
    QuotePcrSelectionInsufficient,

    /// <summary>The TPM has a PCR bank active that the event log does not extend (its PCRs hold what software put there).</summary>
    PcrBankNotInLog,

    /// <summary>The quote does not cover a bank the event log declares (or the TPM does not have it active), or omits SHA-1/SHA-256.</summary>
    PcrBankNotQuoted,

    /// <summary>The event log declares a bank the service cannot replay (SM3, SHA-3 here), or neither SHA-256 nor SHA-1.</summary>
    PcrBankUnsupported,
    EventLogReplayMismatch,
    HostKeyNotCertified,
    HostKeyCertificationInvalid,
    HostKeyAttributesRejected,

    /// <summary>The certified host key's nameAlg is not SHA-256, SHA-384 or SHA-512: TPM2_Certify attests only its Name.</summary>
    HostKeyNameAlgRejected,

    /// <summary>The host key's authPolicy is not the PolicyPCR digest of the attested boot: its TPM would decrypt with it after a reboot into other software.</summary>
    HostKeyNotBoundToBoot,
    PolicyFailed,
    PolicyStaged,
}

/// <summary>One reason as data (Keylime <c>failure.py</c> style): code, status it implies, severity, recoverable.</summary>
public sealed record AttestationFailure(AttestationFailureCode Code, AttestationStatus Status, string Message, bool Recoverable, string? Policy = null)
{
    public string Severity => Status switch
    {
        AttestationStatus.Passed => "info",
        AttestationStatus.InvalidEvidence => "warning",
        _ => "error",
    };

    public AttestationReason ToContract() => new(Code.ToString(), Message, Severity, Recoverable, Policy);

    public static AttestationFailure Of(AttestationFailureCode code, string message) => code switch
    {
        AttestationFailureCode.HostKeyNotRegistered or AttestationFailureCode.SignatureInvalid or AttestationFailureCode.HostRecordIntegrity
            or AttestationFailureCode.EkNotRegistered or AttestationFailureCode.AkNotActivated or AttestationFailureCode.EkCertificateRevoked
            or AttestationFailureCode.EkCertificateCrlExpired or AttestationFailureCode.EkCertificateCrlUnavailable => new(code, AttestationStatus.UnauthorizedHost, message, Recoverable: false),
        AttestationFailureCode.NonceExpired or AttestationFailureCode.NonceUnknown or AttestationFailureCode.NonceReplayed => new(code, AttestationStatus.InvalidEvidence, message, Recoverable: true),
        _ => new(code, AttestationStatus.InvalidEvidence, message, Recoverable: false),
    };
}

/// <summary>The outcome of one attestation: a certificate, or the failures (never a bare "failed").</summary>
public sealed record AttestationVerdict(AttestationStatus Status, byte[]? HealthCertificate, DateTimeOffset? ValidUntil, int PolicyVersion, IReadOnlyList<AttestationFailure> Failures)
{
    public bool Passed => Status == AttestationStatus.Passed;

    /// <param name="nextChallenge">A fresh challenge for the host's next attestation (saves it the challenge round trip).</param>
    public AttestResponse ToContract(ChallengeResponse? nextChallenge = null) => new(
        Status.ToString(),
        HealthCertificate is null ? null : Convert.ToBase64String(HealthCertificate),
        ValidUntil,
        PolicyVersion,
        Failures.Select(f => f.ToContract()).ToList(),
        nextChallenge);

    public static AttestationVerdict Failed(int policyVersion, params AttestationFailure[] failures) =>
        new(failures[0].Status, null, null, policyVersion, failures);
}
