using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Upgrade;

/// <summary>
/// The database of a copied old-release fixture, read directly (not through the service) so the test sees what the old
/// release left and what the current server changed. What differs between SQLite and PostgreSQL is only where the data
/// lives and how a connection to it opens; the queries are the same.
/// </summary>
public abstract class OldReleaseDatabase
{
    /// <summary>The SQLite database the old release kept in the copied data folder (<c>hgs.db</c>).</summary>
    public static OldReleaseDatabase SqliteInDataFolder(string copiedFixture) =>
        new SqliteFile(Path.Combine(copiedFixture, OldReleaseFixture.DataFolder, "hgs.db"));

    /// <summary>
    /// A fresh database of the tests' PostgreSQL server holding the fixture's dump (<c>database.sql</c>), with the copied
    /// data folder's <c>hgs.json</c> pointed at it (it named the fixture run's throwaway server).
    /// </summary>
    public static OldReleaseDatabase RestorePostgresDump(string copiedFixture)
    {
        string connectionString = PostgresServer.Instance.CreateDatabaseFromDump("upgrade", Path.Combine(copiedFixture, OldReleaseFixture.PostgresDumpFile));
        OldReleaseFixture.RepointDatabase(copiedFixture, "postgres:" + connectionString);
        return new PostgresDatabase(connectionString);
    }

    /// <summary>One value of a query (null for SQL NULL), on a connection that does not outlive the call.</summary>
    public async Task<object?> QueryAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = Command(connection, sql, parameters);
        var result = await command.ExecuteScalarAsync();
        return result is DBNull ? null : result;
    }

    /// <summary>Every value of a one-column query.</summary>
    public async Task<List<string>> QueryColumnAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = await OpenAsync();
        await using var command = Command(connection, sql, parameters);
        var values = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    /// <summary>A new, unpooled connection, so none is left open to the database when the server starts or stops.</summary>
    protected abstract DbConnection CreateConnection();

    private async Task<DbConnection> OpenAsync()
    {
        var connection = CreateConnection();
        await connection.OpenAsync();
        return connection;
    }

    private static DbCommand Command(DbConnection connection, string sql, (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private sealed class SqliteFile(string path) : OldReleaseDatabase
    {
        protected override DbConnection CreateConnection() => new SqliteConnection($"Data Source={path};Pooling=False");
    }

    private sealed class PostgresDatabase(string connectionString) : OldReleaseDatabase
    {
        protected override DbConnection CreateConnection() =>
            new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
    }
}
