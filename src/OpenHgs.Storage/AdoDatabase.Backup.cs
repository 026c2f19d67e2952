using System.Data;
using System.Data.Common;
using OpenHgs.Storage.Backup;

namespace OpenHgs.Storage;

public abstract partial class AdoDatabase : IBackupDatabase
{
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ReadSchemaAsync(CancellationToken cancellationToken)
    {
        var columns = await InSnapshotAsync(t => t.Session.Raw.QueryAsync(Dialect.SchemaColumnsQuery, r => (Table: r.GetString(0), Column: r.GetString(1))), cancellationToken).ConfigureAwait(false);
        return columns.GroupBy(c => c.Table, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(c => c.Column).ToList(), StringComparer.Ordinal);
    }

    public async Task<T> InSnapshotAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await BeginSnapshotAsync(connection, cancellationToken).ConfigureAwait(false);
            var command = new CommandFactory(connection, transaction);
            T result = await work(new BackupTables(command, new HgsSession(connection, transaction, Dialect, time, _mac))).ConfigureAwait(false);
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false); // read-only: nothing to commit
            return result;
        }
        catch (DbException ex) when (IsUnavailable(ex))
        {
            throw new DatabaseUnavailableException($"The {Provider} database cannot answer.", ex);
        }
    }

    public Task<T> InRestoreAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return InTransactionCoreAsync(
            (connection, transaction) => work(new BackupTables(new CommandFactory(connection, transaction), new HgsSession(connection, transaction, Dialect, time, _mac))),
            cancellationToken);
    }

    /// <summary>Starts a read transaction that sees one committed state of every table until it ends (PostgreSQL: REPEATABLE READ is a snapshot).</summary>
    protected virtual ValueTask<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
}
