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

    public Task<T> InSnapshotAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return ReadSnapshotAsync(s => work(new BackupTables(s.Raw, s)), cancellationToken);
    }

    public Task<T> InRestoreAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return InTransactionCoreAsync(
            async (connection, transaction) =>
            {
                var command = new CommandFactory(connection, transaction);
                await command.ExecuteAsync(Dialect.SuspendSealedAdminRecordsGuard).ConfigureAwait(false);
                T result = await work(new BackupTables(command, new HgsSession(connection, transaction, Dialect, time, _mac))).ConfigureAwait(false);
                await command.ExecuteAsync(Dialect.SealedAdminRecordsGuard).ConfigureAwait(false);
                return result;
            },
            cancellationToken);
    }

    /// <summary>Starts a read transaction that sees one committed state of every table until it ends (PostgreSQL: REPEATABLE READ is a snapshot).</summary>
    protected virtual ValueTask<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
}
