namespace OpenHgs.Protocol.Wire;

/// <summary>A fabric key (KPS encryption, KPS signing, attestation signer) as the admin sees it.</summary>
public sealed record FabricKeyInfo(
    string Id,
    string Role,
    string Algorithm,
    string Thumbprint,
    bool IsPrimary,
    bool Enabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset NotAfter,
    string Certificate);

public sealed record AddKeyRequest(string Role);

/// <summary>A registered host: name, attestation mode and the SHA-256 of its registered public key.</summary>
public sealed record HostInfo(string Name, string Mode, string KeyThumbprint, DateTimeOffset AddedAt);

/// <summary>Registers a host signing key (PEM or base64 DER SubjectPublicKeyInfo).</summary>
public sealed record AddHostKeyRequest(string Name, string PublicKey);

/// <summary>Result of walking the audit chain.</summary>
public sealed record AuditVerifyResult(bool Valid, long Records, long? FirstBrokenSequence, string? Problem, string? HeadHash);

/// <summary>One audit record as shown to the admin.</summary>
public sealed record AuditRecordInfo(long Sequence, DateTimeOffset Timestamp, string Event, string Outcome, string Subject, string? Reason, string Details, string Hash);

/// <summary>Service settings the admin may read and change.</summary>
public sealed record ServiceSettings(string Mode, DateTimeOffset? DenyBefore, int HealthCertificateValidityMinutes, int PolicyVersion);

public sealed record DenyBeforeRequest(DateTimeOffset? DenyBefore);

/// <summary><c>/healthz</c> answer.</summary>
public sealed record HealthReport(string Status, IReadOnlyDictionary<string, string> Checks);
