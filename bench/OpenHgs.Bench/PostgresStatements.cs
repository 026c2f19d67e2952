using System.Globalization;
using Npgsql;
using OpenHgs.Testing;

namespace OpenHgs.Bench;

/// <summary>
/// What the database server did for one phase of a PostgreSQL run: its own CPU (the postmaster and its backends, read
/// from /proc) and, per statement, the time and buffers <c>pg_stat_statements</c> recorded. The scale run's steps
/// read it so that a latency that grows with the tables is attributed to a statement, not guessed.
/// </summary>
public sealed class PostgresStatements
{
    private readonly PostgresServer _server;
    private readonly string _connectionString;

    private PostgresStatements(PostgresServer server, string connectionString)
    {
        _server = server;
        _connectionString = connectionString;
    }

    /// <summary>Loads pg_stat_statements (a restart: it must be preloaded) and creates it in <paramref name="connectionString"/>'s database.</summary>
    public static async Task<PostgresStatements> EnableAsync(PostgresServer server, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(server);
        await ExecuteAsync(server.AdminConnectionString, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'", cancellationToken).ConfigureAwait(false);
        NpgsqlConnection.ClearAllPools();
        server.Stop();
        server.Restart();
        await ExecuteAsync(connectionString, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", cancellationToken).ConfigureAwait(false);
        return new PostgresStatements(server, connectionString);
    }

    /// <summary>CPU of the database server's processes alive now (the service's pooled backends live through a phase).</summary>
    public TimeSpan ServerCpuTime
    {
        get
        {
            int postmaster = int.Parse(File.ReadLines(Path.Combine(_server.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
            var total = TimeSpan.Zero;
            foreach (string dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                    && ProcessStat.TryRead(pid) is { } stat && (pid == postmaster || stat.ParentPid == postmaster))
                {
                    total += stat.CpuTime;
                }
            }

            return total;
        }
    }

    /// <summary>The statements of this database since the last reset, most total time first.</summary>
    public async Task<IReadOnlyList<StatementStat>> ReadAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT query, calls, total_exec_time, shared_blks_hit, shared_blks_read, shared_blks_dirtied, wal_bytes
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC
            """;
        var stats = new List<StatementStat>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            stats.Add(new StatementStat(
                reader.GetString(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), (long)reader.GetDecimal(6)));
        }

        return stats;
    }

    public Task ResetAsync(CancellationToken cancellationToken) => ExecuteAsync(_connectionString, "SELECT pg_stat_statements_reset()", cancellationToken);

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>One statement's totals over a phase (times in ms; buffers in 8 KB pages).</summary>
public sealed record StatementStat(string Query, long Calls, double TotalMs, long BlocksHit, long BlocksRead, long BlocksDirtied, long WalBytes)
{
    public double MeanMs => Calls == 0 ? 0 : TotalMs / Calls;
}
