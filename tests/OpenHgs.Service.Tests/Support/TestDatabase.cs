using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Support;

/// <summary>
/// A real database for one test: a SQLite file or a PostgreSQL database, opened as the service opens it (<see cref="Open"/>,
/// any number of nodes) and written with plain SQL as someone outside OpenHGS would (<see cref="ExecuteAsync"/>).
/// </summary>
public abstract class TestDatabase : IDisposable
{
    /// <summary>The row-MAC key every <see cref="Open"/> uses.</summary>
    public SoftwareRowKey Rows { get; } = new();

    public static TestDatabase Sqlite(string prefix) => new SqliteTestDatabase(prefix);

    public static TestDatabase Postgres(string prefix) => new PostgresTestDatabase(prefix, icuLocale: null);

    /// <summary>A PostgreSQL database with an ICU collation (<paramref name="icuLocale"/>), where text does not sort by code point.</summary>
    public static TestDatabase PostgresWithCollation(string prefix, string icuLocale) => new PostgresTestDatabase(prefix, icuLocale);

    /// <summary>A new handle on the database, as a service node holds one.</summary>
    public AdoDatabase Open() => Open(Rows.Authenticator);

    /// <summary>A new handle whose rows are MACed and verified by <paramref name="rows"/> (a node with its own memo or a counted store).</summary>
    public abstract AdoDatabase Open(IRowAuthenticator rows);

    /// <summary>Runs <paramref name="sql"/> outside OpenHGS (no MAC, no audit record), with its parameters bound.</summary>
    public async Task ExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var connection = OpenRaw();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Drops the trigger that refuses unsealed admin records after the marker, as a database writer forging records would (<see cref="OutsideAuditWrites.DropSealGuardAsync"/>).</summary>
    public async Task DropSealGuardAsync()
    {
        await using var connection = OpenRaw();
        await OutsideAuditWrites.DropSealGuardAsync(connection);
    }

    /// <summary>
    /// Appends <paramref name="record"/> to the audit trail outside OpenHGS, well formed (what anyone who can write the
    /// database can do, or what a release before design change 67 wrote, without a seal). Returns its sequence.
    /// </summary>
    public async Task<long> AppendOutsideAsync(AuditEvent record)
    {
        await using var connection = OpenRaw();
        return await OutsideAuditWrites.AppendAsync(connection, record);
    }

    /// <summary>The first column of the first row of <paramref name="sql"/>, read outside OpenHGS; null for none.</summary>
    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = OpenRaw();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync() is { } value and not DBNull ? value : null;
    }

    /// <summary>Every value of every row of every result of <paramref name="sql"/>, as text, one line a row (query plans).</summary>
    public async Task<string> TextAsync(string sql)
    {
        await using var connection = OpenRaw();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new List<string>();
        do
        {
            while (await reader.ReadAsync())
            {
                lines.Add(string.Join(' ', Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            }
        }
        while (await reader.NextResultAsync());
        return string.Join('\n', lines);
    }

    /// <summary>The database's plan for <paramref name="query"/>, with sequential scans ruled out where the planner allows it.</summary>
    public abstract Task<string> PlanAsync(string query);

    public virtual void Dispose()
    {
        Rows.Dispose();
        GC.SuppressFinalize(this);
    }

    protected abstract DbConnection OpenRaw();

    private sealed class SqliteTestDatabase(string prefix) : TestDatabase
    {
        private readonly string _file = Path.Combine(Directory.CreateTempSubdirectory($"openhgs-{prefix}-").FullName, "hgs.db");

        public override AdoDatabase Open(IRowAuthenticator rows) => new SqliteDatabase(_file, TimeProvider.System, rows);

        public override Task<string> PlanAsync(string query) => TextAsync("EXPLAIN QUERY PLAN " + query);

        protected override DbConnection OpenRaw()
        {
            var connection = new SqliteConnection($"Data Source={_file}");
            connection.Open();
            return connection;
        }

        public override void Dispose()
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(Path.GetDirectoryName(_file)!, recursive: true);
            base.Dispose();
        }
    }

    private sealed class PostgresTestDatabase(string prefix, string? icuLocale) : TestDatabase
    {
        private readonly string _connectionString = PostgresServer.Instance.CreateDatabase(prefix, icuLocale);

        public override AdoDatabase Open(IRowAuthenticator rows) => new PostgresDatabase(_connectionString, TimeProvider.System, rows);

        // A test's tables are tiny, where a sequential scan is cheapest: ruling it out shows whether the index can serve.
        public override Task<string> PlanAsync(string query) => TextAsync("SET enable_seqscan = off; EXPLAIN " + query);

        protected override DbConnection OpenRaw()
        {
            var connection = new NpgsqlConnection(_connectionString);
            connection.Open();
            return connection;
        }

        public override void Dispose()
        {
            NpgsqlConnection.ClearAllPools();
            base.Dispose();
        }
    }
}
