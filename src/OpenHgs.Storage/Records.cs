namespace OpenHgs.Storage;

/// <summary>A fabric key: which store key (by label) plays which role, with its certificate.</summary>
public sealed record FabricKeyRecord(
    string Id,
    string Role,
    string Label,
    string Algorithm,
    byte[] Certificate,
    bool IsPrimary,
    bool Enabled,
    DateTimeOffset CreatedAt);

/// <summary>
/// A registered guarded host and the public key it attests with. A TPM host registered since design change 75 also has
/// its EK certificate (DER) and <paramref name="EkChain"/>, its validated chain as revocation reads it (each certificate
/// but the root by serial number and issuing CA: <c>EkRevocationPath</c>; empty when the admin registered the TPM without
/// a certificate). Both are null for host-key hosts and for TPM hosts registered before.
/// </summary>
public sealed record HostRecord(string Name, string Mode, byte[] PublicKey, string KeyThumbprint, DateTimeOffset AddedAt, byte[]? EkCertificate = null, string? EkChain = null);

/// <summary>What a caller asks the audit trail to record; sequence and hashes are assigned on append.</summary>
public sealed record AuditEvent(string Event, string Outcome, string Subject, string? Reason, string Details);

/// <summary>A stored audit record, hash-chained to its predecessor.</summary>
public sealed record AuditEntry(
    long Sequence,
    DateTimeOffset Timestamp,
    string Event,
    string Outcome,
    string Subject,
    string? Reason,
    string Details,
    byte[] PreviousHash,
    byte[] Hash);
