using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using Npgsql;

namespace OpenHgs.Storage.Postgres;

/// <summary>
/// PostgreSQL for clusters: every node shares it. Writers use READ COMMITTED with an explicit row lock on the
/// audit head (<c>SELECT … FOR UPDATE</c>), so concurrent nodes append one chain in order; a nonce is marked used
/// with <c>INSERT … ON CONFLICT DO NOTHING</c> on its primary key, so exactly one node's attestation can commit it. Connection failures surface as
/// <see cref="DatabaseUnavailableException"/> quickly (short connect and command timeouts) so the service
/// answers 503 instead of hanging, and the pool reconnects by itself when the server returns.
/// </summary>
public sealed class PostgresDatabase : AdoDatabase
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresDatabase(string connectionString, TimeProvider time, IRowAuthenticator rows)
        : base(new PostgresDialect(), time, rows)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Timeout", StringComparison.OrdinalIgnoreCase))
        {
            builder.Timeout = 5;
        }

        if (!connectionString.Contains("Command Timeout", StringComparison.OrdinalIgnoreCase) && !connectionString.Contains("CommandTimeout", StringComparison.OrdinalIgnoreCase))
        {
            builder.CommandTimeout = 15;
        }

        _dataSource = NpgsqlDataSource.Create(builder);
    }

    public override string Provider => "postgresql";

    public override void Dispose()
    {
        _dataSource.Dispose();
        base.Dispose();
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    protected override ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

    protected override async ValueTask<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
        await using var readOnly = connection.CreateCommand();
        readOnly.Transaction = transaction;
        readOnly.CommandText = "SET TRANSACTION READ ONLY";
        await readOnly.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return transaction;
    }

    protected override bool IsUnavailable(DbException exception) => exception switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) // connection exceptions
            || pg.SqlState.StartsWith("53", StringComparison.Ordinal) // insufficient resources
            || pg.SqlState.StartsWith("57P", StringComparison.Ordinal), // operator intervention (shutdown)
        NpgsqlException npg => npg.IsTransient || npg.InnerException is SocketException or IOException or TimeoutException,
        _ => false,
    };
}
