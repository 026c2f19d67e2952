using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// The service's database (SQLite embedded, PostgreSQL for clusters). All state changes happen inside
/// <see cref="InTransactionAsync{T}"/>, so an audit record and the change it describes commit together or
/// not at all. When the database cannot answer, calls throw <see cref="DatabaseUnavailableException"/> and
/// the service fails closed.
/// </summary>
public interface IHgsDatabase : IDisposable
{
    /// <summary>Provider name, e.g. <c>sqlite</c>.</summary>
    string Provider { get; }

    /// <summary>Applies pending versioned migrations; idempotent.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>The newest migration applied (0 for an empty database).</summary>
    Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> in one serializable write transaction and commits it.</summary>
    Task<T> InTransactionAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>
    /// Runs read-only <paramref name="work"/> on its own connection, each statement seeing the newest commit. A row found
    /// to be an older copy put back (<see cref="RowIntegrityException.SupersededBy"/>) may instead have been changed by a
    /// commit between reading it and reading the audit trail: such a read is run once more in a snapshot
    /// (<see cref="ReadSnapshotAsync"/>), whose answer stands.
    /// </summary>
    Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>
    /// Runs read-only <paramref name="work"/> in a read transaction that sees one committed state of every table (SQLite:
    /// one WAL snapshot; PostgreSQL: REPEATABLE READ, read only). For reads that compare rows with the audit trail and
    /// report rather than throw (lists, key snapshots, the row report): a change committing between the two reads must
    /// not make a current row look like an older copy.
    /// </summary>
    Task<T> ReadSnapshotAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>True when a trivial query succeeds (readiness).</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);
}

/// <summary>The database cannot be reached or failed mid-operation.</summary>
public sealed class DatabaseUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One connection (and transaction, when writing) with the tables bound to it.</summary>
public sealed class HgsSession
{
    internal HgsSession(DbConnection connection, DbTransaction? transaction, SqlDialect dialect, TimeProvider time, RowMac mac)
    {
        var command = new CommandFactory(connection, transaction);
        Raw = command;
        Settings = new SettingsTable(command, mac);
        var seal = new AdminRecordSeal(mac);
        var history = History = new AdminRecordHistory(command, seal);
        FabricKeys = new FabricKeyTable(command, mac, history);
        Hosts = new HostTable(command, mac, dialect, history);
        UsedNonces = new UsedNonceTable(command);
        Tpm = new TpmTable(command, mac, dialect, history);
        TpmCrls = new TpmCrlTable(command, mac, dialect, history);
        Policies = new PolicyTable(command, mac, history);
        Audit = new AuditTable(command, dialect, time, seal, history);
    }

    public SettingsTable Settings { get; }

    /// <summary>What the audit trail's admin records last said about a row (design change 64).</summary>
    public AdminRecordHistory History { get; }

    /// <summary>Plain commands on this session's connection and transaction (schema queries of backup and restore).</summary>
    internal CommandFactory Raw { get; }

    public FabricKeyTable FabricKeys { get; }

    public HostTable Hosts { get; }

    public UsedNonceTable UsedNonces { get; }

    public TpmTable Tpm { get; }

    /// <summary>The imported TPM manufacturer CRLs (design change 69).</summary>
    public TpmCrlTable TpmCrls { get; }

    public PolicyTable Policies { get; }

    public AuditTable Audit { get; }

    /// <summary>MACs every security-relevant row as it is now; returns how many (the one-time upgrade to row MACs).</summary>
    internal async Task<int> SealAllRowsAsync() =>
        await Settings.SealAllAsync().ConfigureAwait(false)
        + await FabricKeys.SealAllAsync().ConfigureAwait(false)
        + await Hosts.SealAllAsync().ConfigureAwait(false)
        + await Tpm.SealAllAsync().ConfigureAwait(false)
        + await Policies.SealAllAsync().ConfigureAwait(false);
}
