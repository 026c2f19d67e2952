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
/// <param name="EkCertificate">
/// TPM hosts only (design change 75): <c>stored</c> (its EK certificate and chain are stored, and each attestation is
/// checked against the imported CRLs), <c>none</c> (registered without an EK certificate: no CRL can reach it) or
/// <c>not-stored</c> (registered before EK certificates were stored: no CRL can reach it until it is registered again).
/// </param>
public sealed record HostInfo(string Name, string Mode, string KeyThumbprint, DateTimeOffset AddedAt, string? EkCertificate = null);

/// <summary>
/// One page of <c>GET /admin/v1/hosts</c> (design change 87), in the database's name order: the hosts whose rows
/// verify; the page's rows that fail their MAC or are an older copy put back (<paramref name="Rejected"/>, each as
/// <c>hgs audit rows</c> names it: they cannot attest); <paramref name="Next"/>, the name to pass as <c>after</c> for the
/// next page (null: this is the last); <paramref name="Total"/>, how many rows the table holds (under the prefix); and
/// <paramref name="Verdicts"/>, the newest attestation record of each subject the page's hosts are named by (name,
/// <c>key:</c>/<c>ek:</c> thumbprint) that has one (design change 89).
/// </summary>
public sealed record HostPage(List<HostInfo> Hosts, List<RowIntegrityFinding> Rejected, string? Next, long Total, List<AuditRecordInfo> Verdicts);

/// <summary>Registers a host signing key (PEM or base64 DER SubjectPublicKeyInfo).</summary>
public sealed record AddHostKeyRequest(string Name, string PublicKey);

/// <summary>Result of walking the audit chain and checking it against the signed audit checkpoints.</summary>
/// <param name="Valid">No finding: the chain is intact and holds every checkpoint exactly.</param>
/// <param name="FirstBrokenSequence">The record the most serious finding concerns.</param>
/// <param name="Problem">The most serious finding, in words.</param>
/// <param name="Reason">
/// Its stable code: <c>ChainBroken</c>, <c>Truncated</c>, <c>Rewritten</c>, <c>CheckpointDeleted</c>,
/// <c>CheckpointBadSignature</c> or <c>UnsignedTailStale</c>; null when valid.
/// </param>
/// <param name="Checkpoint">The newest signed checkpoint the chain matches (null: none yet).</param>
/// <param name="UnsignedTail">Records after that checkpoint, not yet signed (a warning while recent).</param>
/// <param name="Findings">Every finding, most serious first.</param>
/// <param name="CheckpointKeyId">SHA-256 (hex) of the key store's checkpoint public key that signatures were checked with.</param>
public sealed record AuditVerifyResult(
    bool Valid,
    long Records,
    long? FirstBrokenSequence,
    string? Problem,
    string? HeadHash,
    string? Reason = null,
    AuditCheckpointSummary? Checkpoint = null,
    AuditUnsignedTail? UnsignedTail = null,
    List<AuditVerifyFinding>? Findings = null,
    string? CheckpointKeyId = null);

/// <summary>A signed audit checkpoint: record <paramref name="Sequence"/> had <paramref name="Hash"/> (hex) at <paramref name="SignedAt"/>; <paramref name="Source"/> is database, process or file.</summary>
public sealed record AuditCheckpointSummary(long Sequence, string Hash, DateTimeOffset SignedAt, string Source);

/// <summary>Records after the newest checkpoint; <paramref name="Stale"/> when the oldest is far older than checkpoints are made.</summary>
public sealed record AuditUnsignedTail(long Records, DateTimeOffset? OldestAt, bool Stale);

/// <summary>One finding of <c>hgs audit verify</c>: its code (see <see cref="AuditVerifyResult.Reason"/>), the checkpoint's source, the record, and why.</summary>
public sealed record AuditVerifyFinding(string Code, string? Source, long Sequence, string Detail);

/// <summary><c>POST /admin/v1/audit/verify</c>: verify, also against a checkpoint the operator kept outside the database.</summary>
public sealed record AuditVerifyRequest(AuditCheckpointFile? Checkpoint);

/// <summary>
/// <c>hgs audit checkpoint export</c>'s file: a signed audit checkpoint (hash and key id hex, signature base64 r‖s) and the
/// checkpoint key's identity (label, public key base64 DER SubjectPublicKeyInfo). Verification uses the key store's key;
/// the public key here lets anyone check the signature offline too.
/// </summary>
public sealed record AuditCheckpointFile(
    string Kind,
    long Sequence,
    string Hash,
    DateTimeOffset SignedAt,
    string KeyId,
    string Signature,
    string KeyLabel,
    string PublicKey)
{
    public const string FileKind = "openhgs-audit-checkpoint";
}

/// <summary>One audit record as shown to the admin.</summary>
public sealed record AuditRecordInfo(long Sequence, DateTimeOffset Timestamp, string Event, string Outcome, string Subject, string? Reason, string Details, string Hash);

/// <summary>
/// One member of a clustered key store as shown to the admin (<c>GET /admin/v1/key-store/members</c>): its key store
/// URI (never a PIN), up or down, why it last failed, and its counters since the service started.
/// </summary>
public sealed record KeyStoreMemberInfo(string Name, string Location, string State, string? LastError, long Failures, DateTimeOffset? NextRetry, long Operations);

/// <summary>
/// <c>GET /admin/v1/keys/custody</c>: how the key store holds every key the fabric uses, copy by copy, and the findings
/// (design change 71). <paramref name="Passed"/>: no key has a finding of severity <c>failure</c>.
/// </summary>
public sealed record KeyCustodyReport(bool Passed, List<KeyCustodyInfo> Keys);

/// <summary>One key: label, role (a fabric key role, <c>audit-checkpoint</c> or <c>row-mac</c>), purpose, its copies and findings.</summary>
public sealed record KeyCustodyInfo(string Label, string Role, string? FabricKeyId, string Purpose, bool Passed, List<KeyCopyInfo> Copies, List<KeyCustodyFindingInfo> Findings);

/// <summary>One copy of a key: which store holds it and how (<c>Token</c>, <c>Software</c>, <c>Missing</c>, <c>Unavailable</c>).</summary>
public sealed record KeyCopyInfo(string Holder, string Kind, KeyAttributesInfo? Attributes, string? Problem);

/// <summary>A token object's attributes (null: the token does not report it) and the operations it allows.</summary>
public sealed record KeyAttributesInfo(bool? Token, bool? Private, bool? Sensitive, bool? AlwaysSensitive, bool? Extractable, bool? NeverExtractable,
    bool? Local, bool? Modifiable, List<string> Operations);

/// <summary>
/// One finding: its stable code, <c>failure</c> or <c>warning</c>, the copy it concerns and what it means.
/// <paramref name="Critical"/>: the key can have left its store, so <c>--production</c> neither starts with it nor uses it
/// unless <paramref name="Accepted"/> (<c>hgs server run --accept-key-custody</c>, design change 79).
/// </summary>
public sealed record KeyCustodyFindingInfo(string Code, string Severity, string Holder, string Message, bool Critical, bool Accepted);

/// <summary>Service settings the admin may read and change.</summary>
public sealed record ServiceSettings(string Mode, DateTimeOffset? DenyBefore, int HealthCertificateValidityMinutes, int PolicyVersion);

/// <summary>
/// Sets the deny-before date: <see cref="DenyBefore"/> (null clears it), or, with <see cref="Now"/>, the answering
/// node's own clock — never the admin workstation's, whose clock may lag the clock that stamped the certificates.
/// </summary>
public sealed record DenyBeforeRequest(DateTimeOffset? DenyBefore, bool Now = false);

/// <summary>How long health certificates issued from now on stay valid (5 minutes to 7 days).</summary>
public sealed record ValidityRequest(int HealthCertificateValidityMinutes);

/// <summary><c>/healthz</c> answer.</summary>
public sealed record HealthReport(string Status, IReadOnlyDictionary<string, string> Checks);

/// <summary>
/// Every security-relevant row checked against its MAC and against the audit trail's newest word about it (design
/// change 66): <paramref name="Valid"/> when no row failed; <paramref name="Rows"/> is how many rows were read.
/// </summary>
public sealed record RowIntegrityReport(bool Valid, int Rows, List<RowIntegrityFinding> Findings);

/// <summary>
/// A row integrity report as this node last took it (design change 81, the dashboard's "Table rows"):
/// <paramref name="TakenAt"/> is when its read began; a request for it after <paramref name="RefreshAfter"/> takes a new one.
/// </summary>
public sealed record RowIntegritySnapshot(DateTimeOffset TakenAt, DateTimeOffset RefreshAfter, RowIntegrityReport Report);

/// <summary>
/// One row that fails: <paramref name="Problem"/> is <c>changed</c> (its MAC does not verify), <c>missing</c> (a row that
/// must exist was deleted), <c>superseded</c> (an older copy put back: audit record <paramref name="SupersededBy"/>
/// replaced it) or, for an admin record of the audit trail (table <c>audit_log</c>, key its sequence), <c>forged</c> (its
/// seal is missing or wrong); <paramref name="Message"/> says so in a sentence.
/// </summary>
public sealed record RowIntegrityFinding(string Table, string Key, string Problem, long? SupersededBy, string Message);

