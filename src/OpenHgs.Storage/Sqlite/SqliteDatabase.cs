using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace OpenHgs.Storage.Sqlite;

/// <summary>The embedded default: one SQLite file in the data folder, WAL mode, writers serialised by BEGIN IMMEDIATE.</summary>
public sealed class SqliteDatabase : AdoDatabase
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writers = new(1, 1);

    public SqliteDatabase(string path, TimeProvider time, IRowAuthenticator rows)
        : base(new SqliteDialect(), time, rows)
    {
        ArgumentNullException.ThrowIfNull(path);
        Path = System.IO.Path.GetFullPath(path);
        CreateOwnerOnly(Path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    /// <summary>
    /// Creates a missing database file empty (a valid empty SQLite database) with mode 0600 before SQLite opens it:
    /// SQLite would create it 0644, and gives its -wal and -shm files the database file's mode.
    /// </summary>
    private static void CreateOwnerOnly(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path))
        {
            return;
        }

        try
        {
            using var created = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Created by another opener meanwhile: it is theirs to have made 0600.
        }
        catch (DirectoryNotFoundException)
        {
            // No folder yet: SQLite reports it when it opens (CANTOPEN), as before.
        }
    }

    public override string Provider => "sqlite";

    /// <summary>Closes this file's pooled connections, so the file can be moved or deleted afterwards.</summary>
    public override void Dispose()
    {
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        _writers.Dispose();
        base.Dispose();
    }

    protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";
        await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// SQLite admits one writer at a time. Without this queue, concurrent writers of this process collide on BEGIN
    /// IMMEDIATE and SQLite's busy handler puts the losers to sleep for up to 100 ms per retry, so under load the
    /// write lock sits idle while requests wait (second-long outliers). Queued here, the next writer starts as soon as
    /// the previous one commits. Other processes on the same file are still serialised by SQLite's lock and busy_timeout.
    /// </summary>
    protected override async ValueTask<IDisposable?> EnterWriterAsync(CancellationToken cancellationToken)
    {
        await _writers.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new WriterTurn(_writers);
    }

    // BEGIN IMMEDIATE takes the write lock up front, so two writers never both read the same audit head.
    protected override async ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((SqliteConnection)connection).BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false);

    // A deferred transaction takes its WAL read snapshot at the first SELECT and keeps it to the end; writers go on meanwhile.
    protected override ValueTask<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: true));

    protected override bool IsUnavailable(DbException exception) =>
        exception is SqliteException { SqliteErrorCode: 5 or 6 or 10 or 11 or 13 or 14 or 26 }; // BUSY, LOCKED, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB

    private sealed class WriterTurn(SemaphoreSlim writers) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                writers.Release();
            }
        }
    }
}
