using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Service;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Storage;

/// <summary>The audit chain and nonces on a real SQLite file.</summary>
public sealed class SqliteAuditTests : AuditChainTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-audit-").FullName;

    private readonly SoftwareRowKey _rows = new();

    private string DatabasePath => Path.Combine(_directory, "hgs.db");

    protected override AdoDatabase Create() => new SqliteDatabase(DatabasePath, TimeProvider.System, _rows.Authenticator);

    protected override DbConnection OpenRaw()
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath}");
        connection.Open();
        return connection;
    }

    protected override AdoDatabase CreateUnreachable() => new SqliteDatabase(Path.Combine(_directory, "no-such-dir", "hgs.db"), TimeProvider.System, _rows.Authenticator);

    protected override void Cleanup()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        _rows.Dispose();
    }
}

/// <summary>The same on a real PostgreSQL server (the cluster database).</summary>
public sealed class PostgresAuditTests : AuditChainTests
{
    private readonly string _connectionString = PostgresServer.Instance.CreateDatabase("audit");
    private readonly SoftwareRowKey _rows = new();

    protected override AdoDatabase Create() => new PostgresDatabase(_connectionString, TimeProvider.System, _rows.Authenticator);

    protected override DbConnection OpenRaw()
    {
        var connection = new NpgsqlConnection(_connectionString);
        connection.Open();
        return connection;
    }

    protected override AdoDatabase CreateUnreachable() => new PostgresDatabase("Host=127.0.0.1;Port=1;Username=postgres;Database=none;Timeout=2", TimeProvider.System, _rows.Authenticator);

    protected override void Cleanup()
    {
        NpgsqlConnection.ClearAllPools();
        _rows.Dispose();
    }
}

/// <summary>The audit chain on a real database: appends chain, and every kind of tampering is found and named.</summary>
public abstract class AuditChainTests : IAsyncLifetime
{
    private AdoDatabase _database = null!;

    protected abstract AdoDatabase Create();

    protected abstract DbConnection OpenRaw();

    protected abstract AdoDatabase CreateUnreachable();

    protected abstract void Cleanup();

    public async Task InitializeAsync()
    {
        _database = Create();
        await _database.MigrateAsync(CancellationToken.None);
        for (int i = 1; i <= 5; i++)
        {
            int n = i;
            await _database.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("test.event", "success", $"subject-{n}", null, $"{{\"n\":\"{n}\"}}")), CancellationToken.None);
        }
    }

    public Task DisposeAsync()
    {
        (_database as IDisposable)?.Dispose();
        Cleanup();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Latest_per_subject_and_outcome_filters_select_exactly()
    {
        // subject-2 attests twice (refused, then success); subject-9 once (error).
        foreach (var (subject, outcome) in new[] { ("subject-2", "refused"), ("subject-9", "error"), ("subject-2", "success") })
        {
            await _database.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("attestation.attest", outcome, subject, null, "{}")), CancellationToken.None);
        }

        var latest = await _database.ReadAsync(s => s.Audit.LatestPerSubjectAsync("attestation.attest", 10), CancellationToken.None);
        Assert.Equal([("subject-2", "success", 8L), ("subject-9", "error", 7L)], latest.Select(e => (e.Subject, e.Outcome, e.Sequence)));
        Assert.Single(await _database.ReadAsync(s => s.Audit.LatestPerSubjectAsync("attestation.attest", 1), CancellationToken.None));
        Assert.Empty(await _database.ReadAsync(s => s.Audit.LatestPerSubjectAsync("attestation.%", 10), CancellationToken.None));

        var notSuccess = await _database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, null, null, 100, ["refused", "error"])), CancellationToken.None);
        Assert.Equal([7L, 6L], notSuccess.Select(e => e.Sequence));
        var refusedAttestations = await _database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, "attestation.attest", null, 100, ["refused"])), CancellationToken.None);
        Assert.Equal(6L, Assert.Single(refusedAttestations).Sequence);
        Assert.Equal(8, (await _database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, null, null, 100, [])), CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Untouched_chain_verifies()
    {
        var result = await VerifyAsync();
        Assert.True(result.Valid, result.Problem);
        Assert.Equal(5, result.Records);
        Assert.NotNull(result.HeadHash);
    }

    [Theory]
    [InlineData("UPDATE audit_log SET details = '{\"n\":\"9\"}' WHERE seq = 3", 3)]
    [InlineData("UPDATE audit_log SET subject = 'someone-else' WHERE seq = 1", 1)]
    [InlineData("UPDATE audit_log SET outcome = 'refused' WHERE seq = 4", 4)]
    [InlineData("UPDATE audit_log SET reason = 'x' WHERE seq = 2", 2)]
    [InlineData("UPDATE audit_log SET ts = ts + 1 WHERE seq = 5", 5)]
    [InlineData("UPDATE audit_log SET event = 'other' WHERE seq = 3", 3)]
    public async Task Edited_record_is_detected_and_named(string tamper, long broken)
    {
        await ExecuteAsync(tamper);
        var result = await VerifyAsync();
        Assert.False(result.Valid);
        Assert.Equal(broken, result.FirstBrokenSequence);
        Assert.Contains($"record {broken}", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleted_middle_record_is_detected()
    {
        await ExecuteAsync("DELETE FROM audit_log WHERE seq = 2");
        var result = await VerifyAsync();
        Assert.False(result.Valid);
        Assert.Equal(2, result.FirstBrokenSequence);
        Assert.Contains("missing", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleted_newest_record_is_detected_through_the_head()
    {
        await ExecuteAsync("DELETE FROM audit_log WHERE seq = 5");
        var result = await VerifyAsync();
        Assert.False(result.Valid);
        Assert.Equal(5, result.FirstBrokenSequence);
        Assert.Contains("deleted", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rewritten_hash_that_hides_an_edit_breaks_the_next_link()
    {
        // Recompute record 3's hash after editing it: record 4 still points at the old hash.
        var entry = (await _database.ReadAsync(s => s.Audit.ReadAsync(2, 1), CancellationToken.None)).Single();
        var edited = new AuditEvent(entry.Event, entry.Outcome, "forged", entry.Reason, entry.Details);
        byte[] hash = AuditChain.ComputeHash(entry.Sequence, entry.Timestamp, edited, entry.PreviousHash);
        await ExecuteAsync("UPDATE audit_log SET subject = 'forged', hash = @h WHERE seq = 3", ("@h", hash));
        var result = await VerifyAsync();
        Assert.False(result.Valid);
        Assert.Equal(4, result.FirstBrokenSequence);
        Assert.Contains("does not link", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_writers_extend_one_valid_chain()
    {
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 25; i++)
            {
                await _database.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("test.concurrent", "success", $"w{w}", null, "{}")), CancellationToken.None);
            }
        })));
        var result = await VerifyAsync();
        Assert.True(result.Valid, result.Problem);
        Assert.Equal(205, result.Records);
    }

    [Fact]
    public async Task Group_commit_stores_every_record_once_in_one_valid_chain()
    {
        using var key = new CheckpointKeyToken();
        await using var writer = new AuditWriter(_database, key.Checkpointer(_database), new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() =>
            writer.AppendAsync(new AuditEvent("test.grouped", "success", $"r{i}", null, "{}"), CancellationToken.None))));

        var result = await VerifyAsync();
        Assert.True(result.Valid, result.Problem);
        Assert.Equal(205, result.Records);
        var subjects = (await _database.ReadAsync(s => s.Audit.ReadAsync(5, 1000), CancellationToken.None)).Select(e => e.Subject).ToList();
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"r{i}").Order(), subjects.Order());
        Assert.Equal(200, writer.CommittedRecords);

        // 200 appends arriving together must share transactions, or this is not a group commit.
        Assert.InRange(writer.CommittedBatches, 200 / AuditWriter.MaxBatch, 199);
    }

    [Fact]
    public async Task Group_commit_on_an_unreachable_database_refuses_every_record_as_AuditUnavailable()
    {
        var missing = CreateUnreachable();
        using var key = new CheckpointKeyToken();
        await using var writer = new AuditWriter(missing, key.Checkpointer(missing), new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance);
        var refusals = await Task.WhenAll(Enumerable.Range(0, 5).Select(i =>
            Assert.ThrowsAsync<ServiceException>(() => writer.AppendAsync(new AuditEvent("test.grouped", "success", $"r{i}", null, "{}"), CancellationToken.None))));
        Assert.All(refusals, r => Assert.Equal("AuditUnavailable", r.Code));
        Assert.All(refusals, r => Assert.Equal(ProblemKind.Unavailable, r.Kind));
        Assert.Equal(0, writer.CommittedRecords);
    }

    [Fact]
    public async Task Verification_of_a_live_chain_is_not_confused_by_records_appended_meanwhile()
    {
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await _database.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("test.live", "success", "w", null, "{}")), CancellationToken.None);
            }
        });
        try
        {
            for (int i = 0; i < 10; i++)
            {
                var result = await VerifyAsync();
                Assert.True(result.Valid, result.Problem);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }
    }

    [Fact]
    public async Task Nonce_is_marked_used_exactly_once_under_concurrency()
    {
        var expiresAt = DateTimeOffset.UtcNow.AddMinutes(5);
        Assert.False(await _database.ReadAsync(s => s.UsedNonces.IsUsedAsync("abc"), CancellationToken.None));
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            _database.InTransactionAsync(s => s.UsedNonces.TryMarkUsedAsync("abc", expiresAt), CancellationToken.None))));
        Assert.Single(results, r => r);
        Assert.True(await _database.ReadAsync(s => s.UsedNonces.IsUsedAsync("abc"), CancellationToken.None));
    }

    [Fact]
    public async Task Used_nonce_rows_are_purged_only_once_expired()
    {
        var now = DateTimeOffset.UtcNow;
        await _database.InTransactionAsync(async s =>
        {
            Assert.True(await s.UsedNonces.TryMarkUsedAsync("old", now.AddMinutes(-1)));
            Assert.True(await s.UsedNonces.TryMarkUsedAsync("live", now.AddMinutes(1)));
            return await s.UsedNonces.PurgeExpiredAsync(now);
        }, CancellationToken.None);
        Assert.False(await _database.ReadAsync(s => s.UsedNonces.IsUsedAsync("old"), CancellationToken.None));
        Assert.True(await _database.ReadAsync(s => s.UsedNonces.IsUsedAsync("live"), CancellationToken.None));
    }

    [Fact]
    public async Task Failed_transaction_leaves_no_audit_record()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => _database.InTransactionAsync<int>(async s =>
        {
            await s.Audit.AppendAsync(new AuditEvent("test.rollback", "success", "x", null, "{}"));
            throw new InvalidOperationException("the change failed after its audit record was written");
        }, CancellationToken.None));
        var result = await VerifyAsync();
        Assert.True(result.Valid, result.Problem);
        Assert.Equal(5, result.Records);
    }

    [Fact]
    public async Task Unreachable_database_fails_closed_with_a_named_exception()
    {
        var missing = CreateUnreachable();
        await Assert.ThrowsAsync<DatabaseUnavailableException>(() => missing.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("x", "y", "z", null, "{}")), CancellationToken.None));
        Assert.False(await missing.PingAsync(CancellationToken.None));
    }

    private Task<AuditVerification> VerifyAsync() => _database.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None);

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = OpenRaw();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
