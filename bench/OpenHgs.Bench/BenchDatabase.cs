using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace OpenHgs.Bench;

/// <summary>The service's database as the bench reaches it directly (to seed the scale run and check the audit chain).</summary>
public sealed record BenchDatabase(string Provider, string? SqlitePath, string? PostgresConnectionString)
{
    public static BenchDatabase Sqlite(string path) => new("sqlite", path, null);

    public static BenchDatabase Postgres(string connectionString) => new("postgresql", null, connectionString);

    /// <summary>The <c>--database</c> spec hgs.json stores.</summary>
    public string ServiceSpec => PostgresConnectionString is { } pg ? "postgres:" + pg : "sqlite:" + Path.GetFileName(SqlitePath);

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = PostgresConnectionString is { } pg
            ? new NpgsqlConnection(pg)
            : new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = SqlitePath, Pooling = false, DefaultTimeout = 120 }.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (connection is SqliteConnection)
        {
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout = 120000;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return connection;
    }

    public static DbParameter Parameter(DbCommand command, string name)
    {
        ArgumentNullException.ThrowIfNull(command);
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
