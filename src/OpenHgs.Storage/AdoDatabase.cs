using System.Data;
using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// <see cref="IHgsDatabase"/> over any ADO.NET provider; subclasses supply connections, the dialect and which
/// provider errors mean "the database is unreachable" (turned into <see cref="DatabaseUnavailableException"/>).
/// </summary>
/// <remarks>
/// Security-relevant rows are MACed with <c>rows</c> (a key in the service's key store) when written and checked when
/// read, so the database is not a root of trust (docs/security.md).
/// </remarks>
public abstract partial class AdoDatabase(SqlDialect dialect, TimeProvider time, IRowAuthenticator rows) : IHgsDatabase
{
    /// <summary>The audit event of the one-time upgrade that MACs a fabric's existing rows.</summary>
    public const string RowsSealedEvent = "admin.server.seal-rows";

    private readonly RowMac _mac = new(rows ?? throw new ArgumentNullException(nameof(rows)));

    public abstract string Provider { get; }

    /// <summary>Releases this database's pooled connections (and nothing of other databases in the process).</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected SqlDialect Dialect { get; } = dialect;

    protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>True for errors that mean the database cannot answer (as opposed to a constraint violation).</summary>
    protected abstract bool IsUnavailable(DbException exception);

    /// <summary>Starts the write transaction (subclasses pick the isolation that serialises writers).</summary>
    protected virtual ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        connection.BeginTransactionAsync(IsolationLevel.Serializable, cancellationToken);

    public Task MigrateAsync(CancellationToken cancellationToken) => MigrateToAsync(int.MaxValue, cancellationToken);

    /// <summary>Applies pending migrations up to <paramref name="target"/> (tests build databases of older releases with it).</summary>
    public async Task MigrateToAsync(int target, CancellationToken cancellationToken)
    {
        await InTransactionCoreAsync<int>(async (connection, transaction) =>
        {
            var command = new CommandFactory(connection, transaction);
            if (Dialect.MigrationLock.Length > 0)
            {
                await command.ScalarAsync(Dialect.MigrationLock).ConfigureAwait(false);
            }

            await command.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)").ConfigureAwait(false);
            long current = Convert.ToInt64(await command.ScalarAsync("SELECT COALESCE(MAX(version), 0) FROM schema_version").ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
            foreach (var (version, sql) in Dialect.Migrations.Where(m => m.Version > current && m.Version <= target))
            {
                await command.ExecuteAsync(sql, ("@genesis", AuditChain.Genesis)).ConfigureAwait(false);
                await command.ExecuteAsync("INSERT INTO schema_version (version, applied_at) VALUES (@v, @t)", ("@v", version), ("@t", CommandFactory.ToUnixMs(time.GetUtcNow()))).ConfigureAwait(false);
                if (version == SqlDialect.RowMacVersion && current > 0)
                {
                    // A fabric from before row MACs: what its database holds now is trusted once, and the audit trail says so.
                    var session = new HgsSession(connection, transaction, Dialect, time, _mac);
                    int sealedRows = await session.SealAllRowsAsync().ConfigureAwait(false);
                    await session.Audit.AppendAsync(new AuditEvent(RowsSealedEvent, "success", Provider, null,
                        "{\"rows\":\"" + sealedRows.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"}")).ConfigureAwait(false);
                }

                if (version == SqlDialect.AdminRecordSealVersion && current > 0)
                {
                    // A trail from before sealed admin records: its records are believed, no unsealed one after this point is.
                    await new HgsSession(connection, transaction, Dialect, time, _mac).Audit.SealFromHereAsync().ConfigureAwait(false);
                }
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) =>
        InTransactionCoreAsync(async (connection, transaction) =>
        {
            var command = new CommandFactory(connection, transaction);
            await command.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)").ConfigureAwait(false);
            return Convert.ToInt32(await command.ScalarAsync("SELECT COALESCE(MAX(version), 0) FROM schema_version").ConfigureAwait(false) ?? 0, System.Globalization.CultureInfo.InvariantCulture);
        }, cancellationToken);

    public Task<T> InTransactionAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return InTransactionCoreAsync((connection, transaction) => work(new HgsSession(connection, transaction, Dialect, time, _mac)), cancellationToken);
    }

    public async Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await work(new HgsSession(connection, null, Dialect, time, _mac)).ConfigureAwait(false);
        }
        catch (RowIntegrityException ex) when (ex.SupersededBy is not null)
        {
            // Row and history were read by two statements: ask again where both see one commit (no cost on the usual path).
            return await ReadSnapshotAsync(work, cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex) when (IsUnavailable(ex))
        {
            throw new DatabaseUnavailableException($"The {Provider} database cannot answer.", ex);
        }
    }

    public async Task<T> ReadSnapshotAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await BeginSnapshotAsync(connection, cancellationToken).ConfigureAwait(false);
            T result = await work(new HgsSession(connection, transaction, Dialect, time, _mac)).ConfigureAwait(false);
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false); // read-only: nothing to commit
            return result;
        }
        catch (DbException ex) when (IsUnavailable(ex))
        {
            throw new DatabaseUnavailableException($"The {Provider} database cannot answer.", ex);
        }
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await ReadAsync(
                async s =>
                {
                    await s.Hosts.CountAsync().ConfigureAwait(false);
                    return true;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DatabaseUnavailableException or DbException or InvalidOperationException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Waits for this process's turn to write, where the database admits one writer at a time anyway; the returned
    /// handle ends the turn. Null (the default) means writers are not queued in process.
    /// </summary>
    protected virtual ValueTask<IDisposable?> EnterWriterAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IDisposable?>(null);

    private async Task<T> InTransactionCoreAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        using var turn = await EnterWriterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false);
            T result = await work(connection, transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
        catch (DbException ex) when (IsUnavailable(ex))
        {
            throw new DatabaseUnavailableException($"The {Provider} database cannot answer.", ex);
        }
    }
}
