namespace OpenHgs.Storage;

/// <summary>The few places SQLite and PostgreSQL differ: column types, row locking, migrations.</summary>
public abstract class SqlDialect
{
    /// <summary>Suffix that locks a selected row for the rest of the transaction (empty where the whole database is locked).</summary>
    public abstract string ForUpdate { get; }

    /// <summary>The binary column type.</summary>
    public abstract string Blob { get; }

    /// <summary>Statement that serialises schema migration between nodes starting together (empty where the write transaction already does).</summary>
    public virtual string MigrationLock => string.Empty;

    /// <summary>Versioned schema migrations, applied in order; never edit a released one, add a new version.</summary>
    public IReadOnlyList<(int Version, string Sql)> Migrations =>
    [
        (1, $"""
            CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE fabric_keys (
                id TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL UNIQUE, algorithm TEXT NOT NULL,
                certificate {Blob} NOT NULL, is_primary INTEGER NOT NULL, enabled INTEGER NOT NULL, created_at BIGINT NOT NULL);
            CREATE TABLE hosts (
                name TEXT PRIMARY KEY, mode TEXT NOT NULL, public_key {Blob} NOT NULL,
                key_thumbprint TEXT NOT NULL UNIQUE, added_at BIGINT NOT NULL);
            CREATE TABLE nonces (nonce_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
            CREATE INDEX nonces_expiry ON nonces (expires_at);
            CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY, ts BIGINT NOT NULL, event TEXT NOT NULL, outcome TEXT NOT NULL,
                subject TEXT NOT NULL, reason TEXT NULL, details TEXT NOT NULL, prev_hash {Blob} NOT NULL, hash {Blob} NOT NULL);
            CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash {Blob} NOT NULL);
            INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, @genesis);
            """),
        (2, $"""
            CREATE TABLE tpm_roots (thumbprint TEXT PRIMARY KEY, subject TEXT NOT NULL, certificate {Blob} NOT NULL, added_at BIGINT NOT NULL);
            CREATE TABLE tpm_attestation_keys (host_name TEXT PRIMARY KEY, ak_public {Blob} NOT NULL, activated_at BIGINT NOT NULL);
            CREATE TABLE tpm_activations (secret_hash TEXT PRIMARY KEY, host_name TEXT NOT NULL, ak_public {Blob} NOT NULL, expires_at BIGINT NOT NULL);
            CREATE TABLE baselines (name TEXT PRIMARY KEY, document {Blob} NOT NULL, added_at BIGINT NOT NULL);
            CREATE TABLE policies (name TEXT PRIMARY KEY, state TEXT NOT NULL);
            """),
        (RowMacVersion, $"""
            ALTER TABLE settings ADD COLUMN mac {Blob} NULL;
            ALTER TABLE fabric_keys ADD COLUMN mac {Blob} NULL;
            ALTER TABLE hosts ADD COLUMN mac {Blob} NULL;
            ALTER TABLE tpm_roots ADD COLUMN mac {Blob} NULL;
            ALTER TABLE tpm_attestation_keys ADD COLUMN mac {Blob} NULL;
            ALTER TABLE tpm_activations ADD COLUMN mac {Blob} NULL;
            ALTER TABLE baselines ADD COLUMN mac {Blob} NULL;
            ALTER TABLE policies ADD COLUMN mac {Blob} NULL;
            """),
        (4, $"""
            CREATE TABLE audit_checkpoints (
                seq BIGINT PRIMARY KEY, hash {Blob} NOT NULL, signed_at BIGINT NOT NULL, key_id {Blob} NOT NULL, signature {Blob} NOT NULL);
            """),
        (StatelessChallengeVersion, """
            DROP TABLE nonces;
            CREATE TABLE used_nonces (nonce_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
            CREATE INDEX used_nonces_expiry ON used_nonces (expires_at);
            """),
        (AdminSubjectIndexVersion, $"""
            CREATE INDEX audit_admin_subject ON audit_log (subject, seq) WHERE {AdminRecordHistory.AdminEvents};
            """),
        (AdminEventIndexVersion, $"""
            CREATE INDEX audit_admin_event ON audit_log (event, seq) WHERE {AdminRecordHistory.AdminEvents};
            """),
        (AdminRecordSealVersion, SealedAdminRecordsGuard),
        (TpmCrlVersion, $"""
            CREATE TABLE tpm_crls (
                issuer_thumbprint TEXT PRIMARY KEY, issuer_subject TEXT NOT NULL, crl_number TEXT NOT NULL, this_update BIGINT NOT NULL,
                next_update BIGINT NOT NULL, crl {Blob} NOT NULL, added_at BIGINT NOT NULL, mac {Blob} NULL);
            """),
        (EkCertificateVersion, $"""
            ALTER TABLE hosts ADD COLUMN ek_certificate {Blob} NULL;
            ALTER TABLE hosts ADD COLUMN ek_chain TEXT NULL;
            DROP TABLE tpm_activations;
            """),
        (AttestationSubjectIndexVersion, $"""
            CREATE INDEX audit_attestation_subject ON audit_log (subject, seq) WHERE event = '{AuditTable.AttestationEvent}';
            """),
    ];

    /// <summary>
    /// The migration that adds a MAC column to every security-relevant table. Applying it to a database that already
    /// has rows (a fabric from before row MACs) MACs those rows once, in the same transaction, and audits it.
    /// </summary>
    public const int RowMacVersion = 3;

    /// <summary>
    /// The migration to stateless challenges: the table of issued nonces goes (a challenge writes nothing; nonces
    /// still outstanding from before simply no longer decode, and their hosts ask again) and the table of used nonces,
    /// written by each attestation's one commit, takes its place.
    /// </summary>
    public const int StatelessChallengeVersion = 5;

    /// <summary>
    /// The migration that indexes the admin records of the audit trail by subject (<see cref="AdminRecordHistory"/>), so a
    /// read can ask what the trail last said about a row it is about to use. An index only: the tables and columns, and
    /// so backups, are those of <see cref="StatelessChallengeVersion"/>.
    /// </summary>
    public const int AdminSubjectIndexVersion = 6;

    /// <summary>
    /// The migration that indexes the admin records by event, for the look-ups of every subject's records (lists, key
    /// snapshots, the row report): without it SQLite reads the whole audit trail for them. An index only, like
    /// <see cref="AdminSubjectIndexVersion"/>.
    /// </summary>
    public const int AdminEventIndexVersion = 7;

    /// <summary>
    /// The migration from which admin records are sealed (<see cref="AdminRecordSeal"/>, design change 67). No table or
    /// column changes (the seal is in a record's details): applied to a trail older releases wrote, it appends the
    /// marker that opens the sealed part, in the same transaction, so the trail's own records are believed and no
    /// unsealed admin record after them is; and it adds <see cref="SealedAdminRecordsGuard"/>.
    /// </summary>
    public const int AdminRecordSealVersion = 8;

    /// <summary>
    /// The migration that adds <c>tpm_crls</c>, the TPM manufacturer CRLs an admin imports (design change 69). A new table
    /// only, born with its MAC column: a backup made at an earlier schema has no such table and restores with none
    /// (<see cref="Backup.BackupCatalog.TablesAt"/>).
    /// </summary>
    public const int TpmCrlVersion = 9;

    /// <summary>
    /// The migration that stores a TPM host's EK certificate with its registration (design change 75): <c>hosts</c> gains
    /// <c>ek_certificate</c> (DER) and <c>ek_chain</c> (the chain as revocation reads it, <c>EkRevocationPath</c>), so
    /// attestation checks the host against the CRLs imported after it registered. Rows from before keep their MAC (the
    /// new columns are covered only when set, <see cref="RowMac.Covered"/>), and so do the hosts of an older backup. It
    /// also drops <c>tpm_activations</c>, unused since design change 74 (never backed up: no backup holds its rows).
    /// </summary>
    public const int EkCertificateVersion = 10;

    /// <summary>
    /// The migration that indexes the attestation records by subject (design change 89): a page of hosts asks for its
    /// hosts' newest verdicts (<see cref="AuditTable.LatestAttestationOfEachAsync"/>), which without it reads the whole
    /// trail on every dashboard refresh. An index only, like <see cref="AdminSubjectIndexVersion"/>: tables, columns and
    /// backups are those of <see cref="EkCertificateVersion"/>.
    /// </summary>
    public const int AttestationSubjectIndexVersion = 11;

    /// <summary>The name of the trigger of <see cref="SealedAdminRecordsGuard"/>.</summary>
    public const string SealedAdminRecordsTrigger = "audit_admin_sealed";

    /// <summary>What the guard's refusal says (a node of an older release sees it as a database error).</summary>
    public const string SealedAdminRecordsRefusal =
        "OpenHGS admin records are sealed from the marker on (design change 67) and this one is not: this node runs an older release; make admin changes through an upgraded node";

    /// <summary>
    /// A trigger that refuses an unsealed successful admin record after the marker: what a node of an older release
    /// writes during a rolling upgrade. Its change then fails whole (its transaction rolls back) instead of committing
    /// a removal the upgraded nodes would not believe. Not a defence against a database writer, who can drop it (and
    /// whose records are not believed anyway); it keeps every genuine record after the marker sealed, so an unsealed
    /// one there is always a forgery. It compares sequence numbers, so records before the marker still go in whatever
    /// the order (a restore is the other writer of this table, and suspends it: <see cref="SuspendSealedAdminRecordsGuard"/>).
    /// </summary>
    internal abstract string SealedAdminRecordsGuard { get; }

    /// <summary>
    /// Removes the guard for the rest of a restore's transaction, which puts <see cref="SealedAdminRecordsGuard"/> back at
    /// its end: a restore copies the trail as it was, a record forged after the marker too (it is not believed, and
    /// <c>hgs audit rows</c> names it), and puts back a guard a database writer dropped.
    /// </summary>
    internal string SuspendSealedAdminRecordsGuard => $"DROP TRIGGER IF EXISTS {SealedAdminRecordsTrigger}{TriggerTable}";

    /// <summary>What <c>DROP TRIGGER</c> needs after the trigger's name (PostgreSQL names its table).</summary>
    protected abstract string TriggerTable { get; }

    /// <summary>
    /// The schema versions whose backups this release restores: those whose tables and columns are this release's, but
    /// for tables added since (<see cref="Backup.BackupTable.Since"/>), which such a backup does not list and which restore empty.
    /// </summary>
    public static bool HasCurrentTables(int schemaVersion) => schemaVersion >= StatelessChallengeVersion && schemaVersion <= CurrentVersion;

    /// <summary>The newest migration this release has (the schema version a fully migrated database reports).</summary>
    public static int CurrentVersion { get; } = new SqliteDialect().Migrations[^1].Version;

    /// <summary>Every (table, column) of the current schema, ordered by table and column position.</summary>
    public abstract string SchemaColumnsQuery { get; }
}

internal sealed class PostgresDialect : SqlDialect
{
    public override string ForUpdate => " FOR UPDATE";

    public override string Blob => "BYTEA";

    public override string MigrationLock => "SELECT pg_advisory_xact_lock(7270001)";

    public override string SchemaColumnsQuery =>
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position";

    protected override string TriggerTable => " ON audit_log";

    // The WHEN clause keeps the function from running for any other record (attestations, releases, refusals).
    internal override string SealedAdminRecordsGuard => $$"""
        CREATE OR REPLACE FUNCTION {{SealedAdminRecordsTrigger}}() RETURNS trigger LANGUAGE plpgsql AS $guard$
        BEGIN
            IF strpos(NEW.details, '{{AdminRecordSeal.MacField}}') = 0 AND EXISTS (
                SELECT 1 FROM audit_log WHERE {{AdminRecordHistory.AdminEvents}} AND event = '{{AdminRecordSeal.MarkerEvent}}' AND seq < NEW.seq) THEN
                RAISE EXCEPTION '{{SealedAdminRecordsRefusal}}';
            END IF;
            RETURN NEW;
        END
        $guard$;
        CREATE TRIGGER {{SealedAdminRecordsTrigger}} BEFORE INSERT ON audit_log FOR EACH ROW
            WHEN (NEW.event LIKE 'admin.%' AND NEW.outcome = 'success') EXECUTE FUNCTION {{SealedAdminRecordsTrigger}}();
        """;
}

internal sealed class SqliteDialect : SqlDialect
{
    public override string ForUpdate => string.Empty;

    public override string Blob => "BLOB";

    public override string SchemaColumnsQuery =>
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid";

    protected override string TriggerTable => string.Empty;

    internal override string SealedAdminRecordsGuard => $$"""
        CREATE TRIGGER {{SealedAdminRecordsTrigger}} BEFORE INSERT ON audit_log FOR EACH ROW
        WHEN NEW.event LIKE 'admin.%' AND NEW.outcome = 'success' AND instr(NEW.details, '{{AdminRecordSeal.MacField}}') = 0
            AND NEW.seq > (SELECT MIN(seq) FROM audit_log WHERE {{AdminRecordHistory.AdminEvents}} AND event = '{{AdminRecordSeal.MarkerEvent}}')
        BEGIN
            SELECT RAISE(ABORT, '{{SealedAdminRecordsRefusal}}');
        END;
        """;
}
