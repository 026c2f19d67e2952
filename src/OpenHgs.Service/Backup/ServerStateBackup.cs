using System.Globalization;
using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;

namespace OpenHgs.Service.Backup;

/// <summary>What <c>hgs server backup</c> wrote.</summary>
public sealed record BackupResult(string Path, string Digest, long Rows, long AuditRecords, IReadOnlyList<BackupKeyReference> HsmKeys);

/// <summary>What <c>hgs server restore</c> committed.</summary>
public sealed record RestoreResult(string Digest, long Rows, long AuditRecords, DateTimeOffset BackupCreatedAt, string SourceProvider, bool Replaced, long ReplacedAuditRecords);

/// <summary>
/// <c>hgs server backup|restore</c> (like HGS's Export/Import-HgsServerState): the fabric's database state to a
/// database-neutral file sealed in the key store, and back.
/// </summary>
/// <remarks>
/// Security contract. A backup is taken from one consistent snapshot and only when every row MAC and the audit chain
/// (with its signed checkpoints) verify; it names the HSM keys by label and never holds key material. A restore checks,
/// before it writes anything, that the file comes from this key store (checkpoint key identity, row-MAC key check value,
/// every named key present), that its seal verifies (a MAC under the row-MAC key over every line), and that every row MAC
/// and the audit chain verify; then it writes everything, the restore's own audit record and a checkpoint signed in the
/// key store in one transaction, re-reading the file and refusing it if it changed meanwhile. Any refusal leaves the
/// target as it was. Both are audited: a backup (or its refusal) in the source's trail, a restore in the restored trail.
/// </remarks>
public sealed class ServerStateBackup
{
    public const string BackupEvent = "admin.server.backup";
    public const string RestoreEvent = "admin.server.restore";

    private readonly IKeyStore _store;
    private readonly IHgsDatabase _database;
    private readonly IBackupDatabase _tables;
    private readonly TimeProvider _time;
    private readonly KeyStoreRowAuthenticator _rows;

    public ServerStateBackup(IKeyStore store, IHgsDatabase database, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        _database = database;
        _tables = database as IBackupDatabase ?? throw new ArgumentException($"The {database.Provider} database cannot be backed up.", nameof(database));
        _time = time;
        _rows = new KeyStoreRowAuthenticator(store);
    }

    /// <summary>Writes a backup to <paramref name="path"/> (which must not exist); refuses a database that does not verify.</summary>
    /// <exception cref="BackupException">The database's schema, a row MAC or the audit trail does not verify (nothing is written but the refusal's audit record).</exception>
    public async Task<BackupResult> BackupAsync(string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        path = Path.GetFullPath(path);
        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            throw new DirectoryNotFoundException($"The folder of '{path}' does not exist.");
        }

        if (File.Exists(path))
        {
            throw new IOException($"'{path}' exists; a backup never overwrites a file.");
        }

        using var checkpointKey = CheckpointKey();
        string partial = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.partial");
        try
        {
            await CheckSchemaAsync(cancellationToken).ConfigureAwait(false);
            byte[] digest;
            BackupIntegrity integrity;
            IReadOnlyList<BackupKeyReference> keys;
            await using (var writer = new BackupWriter(partial))
            {
                (integrity, keys) = await _tables.InSnapshotAsync(async t =>
                {
                    var fabricKeys = (await t.Session.FabricKeys.ListAsync().ConfigureAwait(false)).Rows;
                    IReadOnlyList<BackupKeyReference> named = HsmKeys(fabricKeys);
                    await writer.WriteHeaderAsync(new BackupHeader(SqlDialect.CurrentVersion, _time.GetUtcNow(), _database.Provider, Identity(checkpointKey), named)).ConfigureAwait(false);
                    var check = new BackupIntegrity(_rows, checkpointKey.Verifies, _time.GetUtcNow());
                    foreach (var table in BackupCatalog.Tables)
                    {
                        await foreach (var values in t.ReadAsync(table, cancellationToken).ConfigureAwait(false))
                        {
                            check.Row(table, values);
                            await writer.WriteRowAsync(table, values).ConfigureAwait(false);
                        }
                    }

                    check.Finish();
                    return (check, named);
                }, cancellationToken).ConfigureAwait(false);
                digest = await writer.CompleteAsync(_rows, cancellationToken).ConfigureAwait(false);
            }

            string hex = Convert.ToHexStringLower(digest);
            long rows = integrity.Counts.Values.Sum();
            await AuditAsync(checkpointKey, AuditRecord.Create(BackupEvent, AuditOutcomes.Success, path, null,
                ("digest", hex), ("rows", Number(rows)), ("auditRecords", Number(integrity.Head.Sequence)), ("provider", _database.Provider)), cancellationToken).ConfigureAwait(false);
            File.Move(partial, path, overwrite: false);
            return new BackupResult(path, hex, rows, integrity.Head.Sequence, keys);
        }
        catch (BackupException refused)
        {
            File.Delete(partial);
            await AuditAsync(checkpointKey, AuditRecord.Create(BackupEvent, AuditOutcomes.Refused, path, refused.Code, ("provider", _database.Provider)), cancellationToken).ConfigureAwait(false);
            throw;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>
    /// Restores <paramref name="path"/> into this database: refused unless the file is sealed by this key store and verifies
    /// throughout; refused when the database already holds a fabric, unless <paramref name="replaceExisting"/>.
    /// </summary>
    /// <exception cref="BackupException">The refusal; the database is unchanged.</exception>
    public async Task<RestoreResult> RestoreAsync(string path, bool replaceExisting, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        path = Path.GetFullPath(path);
        using var checkpointKey = CheckpointKey();

        // Pass 1: the file alone, before the target is touched at all.
        var verified = new VerifyingSink(this, checkpointKey, null);
        var scan = await BackupReader.ReadAsync(path, _rows, verified, deferRowErrors: true, cancellationToken).ConfigureAwait(false);

        int version = await _database.GetSchemaVersionAsync(cancellationToken).ConfigureAwait(false);
        if (version == 0)
        {
            await _database.MigrateAsync(cancellationToken).ConfigureAwait(false); // a new (or destroyed) database: create the schema
        }
        else if (version != SqlDialect.CurrentVersion)
        {
            throw new BackupException(BackupCodes.VersionUnsupported,
                $"The target database is at schema {version}, this release at {SqlDialect.CurrentVersion}: start the service on it once (it migrates), or restore into an empty database.");
        }

        await CheckSchemaAsync(cancellationToken).ConfigureAwait(false);

        // Pass 2: one transaction; the file is read (and verified) again as it is inserted, and must be the one verified.
        return await _tables.InRestoreAsync(async t =>
        {
            var (priorRecords, _) = await t.Session.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
            bool holdsFabric = priorRecords > 0 || await t.CountAsync("audit_head").ConfigureAwait(false) != 1;
            foreach (var table in BackupCatalog.Tables.Where(t => t.Name != "audit_head"))
            {
                holdsFabric |= await t.CountAsync(table.Name).ConfigureAwait(false) > 0;
            }

            if (holdsFabric && !replaceExisting)
            {
                throw new BackupException(BackupCodes.TargetNotEmpty,
                    $"The target database already holds a fabric ({priorRecords} audit records); pass --replace-existing to replace it with the backup.");
            }

            foreach (string table in BackupCatalog.Tables.Select(t => t.Name).Concat(BackupCatalog.Excluded.Keys.Where(k => k != "schema_version")))
            {
                await t.DeleteAllAsync(table).ConfigureAwait(false);
            }

            var inserting = new VerifyingSink(this, checkpointKey, t);
            var again = await BackupReader.ReadAsync(path, _rows, inserting, deferRowErrors: false, cancellationToken).ConfigureAwait(false);
            if (!CryptographicOperations.FixedTimeEquals(again.Digest, scan.Digest))
            {
                throw new BackupException(BackupCodes.SealInvalid, "The backup file changed while it was being restored.");
            }

            string hex = Convert.ToHexStringLower(scan.Digest);
            long records = inserting.Integrity.Head.Sequence;
            var entry = await t.Session.Audit.AppendAsync(AuditRecord.Create(RestoreEvent, AuditOutcomes.Success, path, null,
                ("digest", hex), ("rows", Number(scan.Rows)), ("auditRecords", Number(records)), ("backupCreatedAt", scan.Header.CreatedAt.ToString("O", CultureInfo.InvariantCulture)),
                ("sourceProvider", scan.Header.Provider), ("provider", _database.Provider), ("replaced", holdsFabric ? "true" : "false"),
                ("replacedAuditRecords", Number(holdsFabric ? priorRecords : 0)))).ConfigureAwait(false);
            await t.Session.Audit.AddCheckpointAsync(checkpointKey.Sign(entry.Sequence, entry.Hash, _time.GetUtcNow())).ConfigureAwait(false);
            return new RestoreResult(hex, scan.Rows, records, scan.Header.CreatedAt, scan.Header.Provider, holdsFabric, holdsFabric ? priorRecords : 0);
        }, cancellationToken).ConfigureAwait(false);
    }

    private AuditCheckpointKey CheckpointKey() =>
        AuditCheckpointKey.Find(_store) ?? throw new BackupException(BackupCodes.KeyMismatch,
            $"The key store holds no audit checkpoint key ('{AuditCheckpointKey.Label}'): it is not the fabric's key store.");

    private BackupKeyStoreIdentity Identity(AuditCheckpointKey checkpointKey) => new(_store.Kind, checkpointKey.KeyId, BackupFormat.KeyCheck(_rows));

    private static List<BackupKeyReference> HsmKeys(IEnumerable<FabricKeyRecord> fabricKeys) =>
    [
        new(KeyStoreRowAuthenticator.MacKeyLabel, "row-mac"),
        new(AuditCheckpointKey.Label, "audit-checkpoint"),
        .. fabricKeys.Select(k => new BackupKeyReference(k.Label, "fabric-" + k.Role)),
    ];

    private async Task CheckSchemaAsync(CancellationToken cancellationToken)
    {
        if (BackupCatalog.Difference(await _tables.ReadSchemaAsync(cancellationToken).ConfigureAwait(false)) is { } difference)
        {
            throw new BackupException(BackupCodes.SchemaMismatch, $"The database's schema is not the one this release backs up: {difference}.");
        }
    }

    private async Task AuditAsync(AuditCheckpointKey checkpointKey, AuditEvent record, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async s =>
        {
            var entry = await s.Audit.AppendAsync(record).ConfigureAwait(false);
            return await s.Audit.AddCheckpointAsync(checkpointKey.Sign(entry.Sequence, entry.Hash, _time.GetUtcNow())).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Checks the header against this key store, verifies every row, and (in pass 2) inserts it.</summary>
    private sealed class VerifyingSink(ServerStateBackup owner, AuditCheckpointKey checkpointKey, BackupTables? target) : IBackupSink
    {
        public BackupIntegrity Integrity { get; } = new(owner._rows, checkpointKey.Verifies, owner._time.GetUtcNow());

        public void Header(BackupHeader header)
        {
            var ours = owner.Identity(checkpointKey);
            if (!CryptographicOperations.FixedTimeEquals(header.KeyStore.CheckpointKeyId, ours.CheckpointKeyId)
                || !CryptographicOperations.FixedTimeEquals(header.KeyStore.RowMacKeyCheck, ours.RowMacKeyCheck))
            {
                throw new BackupException(BackupCodes.KeyMismatch,
                    $"The backup was made with another key store (checkpoint key {Convert.ToHexStringLower(header.KeyStore.CheckpointKeyId)[..16]}…, this one's is {Convert.ToHexStringLower(ours.CheckpointKeyId)[..16]}…): restore it on a node holding that fabric's HSM keys.");
            }

            var missing = header.HsmKeys.Where(k => k.Purpose.StartsWith("fabric-", StringComparison.Ordinal) && owner._store.FindKey(k.Label) is null).Select(k => k.Label).ToList();
            if (missing.Count > 0)
            {
                throw new BackupException(BackupCodes.KeyMismatch, $"The key store does not hold keys the backup names: {string.Join(", ", missing)}.");
            }
        }

        public async Task RowAsync(BackupTable table, object?[] values)
        {
            Integrity.Row(table, values);
            if (target is not null)
            {
                await target.InsertAsync(table, values).ConfigureAwait(false);
            }
        }

        public void Complete() => Integrity.Finish();
    }
}
