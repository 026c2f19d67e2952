using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace OpenHgs.Storage.Backup;

/// <summary>
/// Whole-table access for <c>hgs server backup|restore</c>: a consistent snapshot to read every backed-up table from,
/// and one write transaction to replace them in.
/// </summary>
/// <remarks>
/// Security contract: <see cref="InSnapshotAsync{T}"/> sees one committed state of every table (SQLite: one read
/// transaction; PostgreSQL: a REPEATABLE READ, READ ONLY snapshot), so a backup never mixes states; everything done in
/// <see cref="InRestoreAsync{T}"/> commits together or not at all (an exception rolls it back).
/// </remarks>
public interface IBackupDatabase
{
    /// <summary>Provider name, e.g. <c>sqlite</c>.</summary>
    string Provider { get; }

    /// <summary>The live schema: every table and its columns in order (to compare with <see cref="BackupCatalog"/>).</summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ReadSchemaAsync(CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> on one consistent read snapshot.</summary>
    Task<T> InSnapshotAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="work"/> in one write transaction, committed only when it returns.</summary>
    Task<T> InRestoreAsync<T>(Func<BackupTables, Task<T>> work, CancellationToken cancellationToken);
}

/// <summary>The backed-up tables on one connection and transaction, plus the ordinary tables (audit) on the same.</summary>
public sealed class BackupTables
{
    private readonly CommandFactory _db;

    internal BackupTables(CommandFactory db, HgsSession session)
    {
        _db = db;
        Session = session;
    }

    /// <summary>The service's tables on the same transaction (to append the audit record of a restore).</summary>
    public HgsSession Session { get; }

    /// <summary>Every row of <paramref name="table"/> in its catalog order, typed (strings, byte arrays, longs, nulls).</summary>
    public async IAsyncEnumerable<object?[]> ReadAsync(BackupTable table, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        await using var command = _db.Create($"SELECT {table.ColumnList} FROM {table.Name} ORDER BY {table.OrderBy}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var values = new object?[table.Columns.Count];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = Read(reader, i, table.Columns[i].Type);
            }

            yield return values;
        }
    }

    /// <summary>Inserts one row as read from a backup.</summary>
    public Task InsertAsync(BackupTable table, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(values);
        var parameters = new (string, object?)[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            parameters[i] = ("@p" + i.ToString(CultureInfo.InvariantCulture), table.Columns[i].Type is BackupColumnType.Int32 or BackupColumnType.Flag
                ? Convert.ToInt32(values[i], CultureInfo.InvariantCulture)
                : values[i]);
        }

        return _db.ExecuteAsync($"INSERT INTO {table.Name} ({table.ColumnList}) VALUES ({string.Join(", ", parameters.Select(p => p.Item1))})", parameters);
    }

    /// <summary>How many rows a table of the schema holds (a name from <see cref="BackupCatalog"/>).</summary>
    public async Task<long> CountAsync(string table) =>
        Convert.ToInt64(await _db.ScalarAsync($"SELECT COUNT(*) FROM {Known(table)}").ConfigureAwait(false), CultureInfo.InvariantCulture);

    /// <summary>Deletes every row of a table of the schema (a name from <see cref="BackupCatalog"/>).</summary>
    public Task DeleteAllAsync(string table) => _db.ExecuteAsync($"DELETE FROM {Known(table)}");

    private static string Known(string table) =>
        BackupCatalog.Tables.Any(t => t.Name == table) || BackupCatalog.Excluded.ContainsKey(table)
            ? table
            : throw new ArgumentException($"'{table}' is not a table of the backup catalog.", nameof(table));

    private static object? Read(DbDataReader reader, int ordinal, BackupColumnType type) =>
        reader.IsDBNull(ordinal) ? null : type switch
        {
            BackupColumnType.Text or BackupColumnType.NullableText => reader.GetString(ordinal),
            BackupColumnType.Blob or BackupColumnType.NullableBlob => (byte[])reader.GetValue(ordinal),
            _ => Convert.ToInt64(reader.GetValue(ordinal), CultureInfo.InvariantCulture),
        };
}
