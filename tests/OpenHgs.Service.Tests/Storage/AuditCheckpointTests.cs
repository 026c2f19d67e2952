using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using OpenHgs.Crypto;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Storage;

/// <summary>A SoftHSM2 token holding an audit checkpoint key, and checkpointers over it.</summary>
internal sealed class CheckpointKeyToken : IDisposable
{
    private readonly SoftHsmToken _token = new();
    private readonly IKeyStore _store;

    public CheckpointKeyToken()
    {
        _store = _token.OpenKeyStore();
        Key = AuditCheckpointKey.Create(_store);
    }

    public AuditCheckpointKey Key { get; }

    public AuditCheckpointer Checkpointer(IHgsDatabase database, int everyRecords = 64) =>
        new(database, Key, new AuditCheckpointOptions { EveryRecords = everyRecords, Interval = TimeSpan.FromHours(1) }, TimeProvider.System, NullLogger<AuditCheckpointer>.Instance);

    public void Dispose()
    {
        Key.Dispose();
        _store.Dispose();
        _token.Dispose();
    }
}

public sealed class SqliteAuditCheckpointTests : AuditCheckpointTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-checkpoint-").FullName;

    private string DatabasePath => Path.Combine(_directory, "hgs.db");

    protected override AdoDatabase Create() => new SqliteDatabase(DatabasePath, TimeProvider.System, Rows.Authenticator);

    protected override DbConnection OpenRaw()
    {
        var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        return connection;
    }

    protected override void Cleanup()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

public sealed class PostgresAuditCheckpointTests : AuditCheckpointTests
{
    private readonly string _connectionString = PostgresServer.Instance.CreateDatabase("checkpoint");

    protected override AdoDatabase Create() => new PostgresDatabase(_connectionString, TimeProvider.System, Rows.Authenticator);

    protected override DbConnection OpenRaw()
    {
        var connection = new NpgsqlConnection(_connectionString);
        connection.Open();
        return connection;
    }

    protected override void Cleanup() => NpgsqlConnection.ClearAllPools();
}

/// <summary>
/// Signed audit checkpoints on a real database and a real SoftHSM2 key: an attacker who can write the database (and so
/// recompute the hash chain and the head row) is still caught truncating or rewriting the trail, and the checkpointer
/// never signs a head that does not extend what it signed before.
/// </summary>
public abstract class AuditCheckpointTests : IAsyncLifetime
{
    private readonly CheckpointKeyToken _key = new();
    private AdoDatabase _database = null!;

    /// <summary>The row-MAC key the databases need (checkpoints themselves are signed, not MACed).</summary>
    protected SoftwareRowKey Rows { get; } = new();

    protected abstract AdoDatabase Create();

    protected abstract DbConnection OpenRaw();

    protected abstract void Cleanup();

    public async Task InitializeAsync()
    {
        _database = Create();
        await _database.MigrateAsync(CancellationToken.None);
        await AppendAsync(5);
    }

    public Task DisposeAsync()
    {
        _database.Dispose();
        _key.Dispose();
        Cleanup();
        Rows.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_checkpoint_signs_the_head_and_later_records_are_an_unsigned_tail()
    {
        var checkpoint = await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        Assert.NotNull(checkpoint);
        Assert.Equal(5, checkpoint.Sequence);
        Assert.True(_key.Key.Verifies(checkpoint));
        await AppendAsync(2);

        var report = await VerifyAsync();
        Assert.True(report.Valid, report.Reason?.Detail);
        Assert.Equal(5, report.Newest?.Sequence);
        Assert.Equal(2, report.UnsignedRecords);
        Assert.NotNull(report.OldestUnsignedAt);
    }

    [Fact]
    public async Task Checkpointing_an_already_signed_head_signs_nothing_new()
    {
        var checkpointer = _key.Checkpointer(_database);
        Assert.NotNull(await checkpointer.CheckpointAsync(CancellationToken.None));
        Assert.Null(await checkpointer.CheckpointAsync(CancellationToken.None));
        Assert.Null(await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None)); // a restarted service too
        Assert.Equal(1L, await ScalarAsync("SELECT COUNT(*) FROM audit_checkpoints"));
    }

    [Fact]
    public async Task Deleting_the_newest_records_and_rewriting_the_head_is_named_as_truncation_and_never_signed()
    {
        await AppendAsync(3);
        await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        await TruncateToAsync(5);

        var report = await VerifyAsync();
        Assert.True(report.Chain.Valid, "the truncated chain is consistent on its own: only the checkpoint shows the deletion");
        Assert.False(report.Valid);
        Assert.Equal(AuditFindingKind.Truncated, report.Reason!.Kind);
        Assert.Equal(8, report.Reason.Sequence);
        Assert.Equal(AuditCheckpointSource.Database, report.Reason.Source);
        Assert.Contains("chain ends at record 5", report.Reason.Detail, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<AuditCheckpointRefusedException>(() => _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None));
        Assert.Contains("newest records were deleted", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rewriting_a_record_and_recomputing_the_chain_is_named_as_a_rewrite_and_never_signed()
    {
        await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        await RewriteAsync(2, "forged");

        var report = await VerifyAsync();
        Assert.True(report.Chain.Valid, "the recomputed chain is consistent on its own: only the checkpoint shows the rewrite");
        Assert.Equal(AuditFindingKind.Rewritten, report.Reason!.Kind);
        Assert.Equal(5, report.Reason.Sequence);

        var refused = await Assert.ThrowsAsync<AuditCheckpointRefusedException>(() => _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None));
        Assert.Contains("rewritten", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chain_rewritten_after_the_newest_checkpoint_is_not_signed_by_a_checkpointer_that_verified_it()
    {
        var checkpointer = _key.Checkpointer(_database);
        await checkpointer.CheckpointAsync(CancellationToken.None);
        await AppendAsync(3);
        Assert.Equal(8, (await checkpointer.CheckpointAsync(CancellationToken.None))?.Sequence);
        await ExecuteAsync("DELETE FROM audit_checkpoints WHERE seq = 8");
        await RewriteAsync(7, "forged");

        // The rows no longer show it, but this process signed record 8 and remembers it.
        await Assert.ThrowsAsync<AuditCheckpointRefusedException>(() => checkpointer.CheckpointAsync(CancellationToken.None));
        var report = await new AuditVerifier(_database, checkpointer, TimeProvider.System).VerifyAsync(null, CancellationToken.None);
        Assert.Equal(AuditFindingKind.Rewritten, report.Reason!.Kind);
        Assert.Equal(AuditCheckpointSource.Process, report.Reason.Source);
        Assert.Contains(report.Findings, f => f is { Kind: AuditFindingKind.CheckpointDeleted, Source: AuditCheckpointSource.Process, Sequence: 8 });
    }

    [Fact]
    public async Task A_forged_checkpoint_row_is_named_as_a_bad_signature()
    {
        await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        var record3 = (await _database.ReadAsync(s => s.Audit.ReadAsync(2, 1), CancellationToken.None)).Single();
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        byte[] signature = other.SignHash(AuditCheckpointFormat.Digest(_key.Key.KeyId, 3, record3.Hash, at), DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        await _database.InTransactionAsync(s => s.Audit.AddCheckpointAsync(new AuditCheckpoint(3, record3.Hash, at, _key.Key.KeyId, signature)), CancellationToken.None);

        var report = await VerifyAsync();
        Assert.Equal(AuditFindingKind.CheckpointBadSignature, Assert.Single(report.Findings).Kind);
        Assert.Equal(3, report.Reason!.Sequence);
        Assert.Equal(5, report.Newest?.Sequence);
    }

    [Fact]
    public async Task A_kept_checkpoint_proves_records_were_removed_after_the_rows_were_deleted_too()
    {
        await AppendAsync(3);
        var kept = await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        await TruncateToAsync(5);
        await ExecuteAsync("DELETE FROM audit_checkpoints");

        // A restarted service finds no checkpoint and signs the truncated chain: only the kept checkpoint shows the loss.
        var restarted = _key.Checkpointer(_database);
        Assert.Equal(5, (await restarted.CheckpointAsync(CancellationToken.None))?.Sequence);
        var verifier = new AuditVerifier(_database, _key.Checkpointer(_database), TimeProvider.System);
        Assert.True((await verifier.VerifyAsync(null, CancellationToken.None)).Valid);

        var report = await verifier.VerifyAsync(kept, CancellationToken.None);
        Assert.Equal(AuditFindingKind.Truncated, report.Reason!.Kind);
        Assert.Equal(AuditCheckpointSource.File, report.Reason.Source);
        Assert.Equal(8, report.Reason.Sequence);
        Assert.Contains(report.Findings, f => f is { Kind: AuditFindingKind.CheckpointDeleted, Source: AuditCheckpointSource.File });
    }

    [Fact]
    public async Task A_kept_checkpoint_signed_by_another_key_is_named_as_a_bad_signature()
    {
        var genuine = await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        using var other = new CheckpointKeyToken();
        var foreign = other.Key.Sign(genuine!.Sequence, genuine.Hash, genuine.SignedAt);

        var report = await new AuditVerifier(_database, _key.Checkpointer(_database), TimeProvider.System).VerifyAsync(foreign, CancellationToken.None);
        var finding = Assert.Single(report.Findings);
        Assert.Equal(AuditFindingKind.CheckpointBadSignature, finding.Kind);
        Assert.Equal(AuditCheckpointSource.File, finding.Source);
    }

    [Fact]
    public async Task An_old_unsigned_tail_is_a_finding_a_recent_one_a_warning()
    {
        await _key.Checkpointer(_database).CheckpointAsync(CancellationToken.None);
        await AppendAsync(2);
        Assert.True((await VerifyAsync(DateTimeOffset.UtcNow)).Valid);

        var later = await VerifyAsync(DateTimeOffset.UtcNow.AddHours(2));
        Assert.Equal(AuditFindingKind.UnsignedTailStale, later.Reason!.Kind);
        Assert.Equal(6, later.Reason.Sequence);
        Assert.Equal(2, later.UnsignedRecords);
    }

    [Fact]
    public async Task Group_commit_signs_the_head_when_due_and_the_signed_chain_verifies()
    {
        var checkpointer = _key.Checkpointer(_database, everyRecords: 8);
        await using (var writer = new AuditWriter(_database, checkpointer, new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance))
        {
            for (int i = 0; i < 40; i++)
            {
                await writer.AppendAsync(new AuditEvent("test.release", "success", $"r{i}", null, "{}"), CancellationToken.None);
            }
        }

        long rows = (long)(await ScalarAsync("SELECT COUNT(*) FROM audit_checkpoints"))!;
        Assert.InRange(rows, 40 / 8, 40 / 8 + 1); // the first commit signs (nothing trusted yet), then every 8 records
        var report = await VerifyAsync();
        Assert.True(report.Valid, report.Reason?.Detail);
        Assert.Equal(checkpointer.LastSigned?.Sequence, report.Newest?.Sequence);
        Assert.InRange(report.UnsignedRecords, 0, 7);
    }

    [Fact]
    public async Task Group_commit_fails_closed_when_the_head_cannot_be_signed()
    {
        var checkpointer = _key.Checkpointer(_database, everyRecords: 1);
        await checkpointer.CheckpointAsync(CancellationToken.None);
        await TruncateToAsync(3);
        await using var writer = new AuditWriter(_database, checkpointer, new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance);

        var refusal = await Assert.ThrowsAsync<ServiceException>(() => writer.AppendAsync(new AuditEvent("test.release", "success", "r", null, "{}"), CancellationToken.None));
        Assert.Equal("AuditUnavailable", refusal.Code);
        Assert.Equal(3L, await ScalarAsync("SELECT MAX(seq) FROM audit_log")); // the record was rolled back with the refused checkpoint
    }

    [Fact]
    public void The_signed_message_is_domain_separated_and_covers_every_field()
    {
        byte[] key = new byte[32];
        byte[] hash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        byte[] message = AuditCheckpointFormat.Message(key, 7, hash, at);
        Assert.Equal("OpenHGS-audit-checkpoint-v1\0"u8.ToArray(), message[..28]);
        Assert.Equal(28 + 32 + 8 + 32 + 8, message.Length);
        Assert.Equal(Convert.FromHexString("0000000000000007"), message[60..68]);
        Assert.Equal(hash, message[68..100]);
        Assert.Equal(Convert.FromHexString("0000018BCFE5687B"), message[100..108]);

        byte[] digest = AuditCheckpointFormat.Digest(key, 7, hash, at);
        Assert.NotEqual(digest, AuditCheckpointFormat.Digest(key, 8, hash, at));
        Assert.NotEqual(digest, AuditCheckpointFormat.Digest(key, 7, hash, at.AddMilliseconds(1)));
        Assert.NotEqual(digest, AuditCheckpointFormat.Digest(hash, 7, hash, at));
        Assert.NotEqual(digest, AuditCheckpointFormat.Digest(key, 7, key, at));
    }

    private Task<AuditTrailReport> VerifyAsync(DateTimeOffset? now = null) =>
        _database.ReadAsync(s => s.Audit.VerifyAsync(new AuditCheckpointPolicy(_key.Key.Verifies, [], now ?? DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5))), CancellationToken.None);

    private async Task AppendAsync(int count)
    {
        for (int i = 0; i < count; i++)
        {
            int n = i;
            await _database.InTransactionAsync(s => s.Audit.AppendAsync(new AuditEvent("test.event", "success", $"subject-{n}", null, "{}")), CancellationToken.None);
        }
    }

    /// <summary>What an attacker with write access does: delete the newest records and point the head at the last one kept.</summary>
    private async Task TruncateToAsync(long keep)
    {
        var kept = (await _database.ReadAsync(s => s.Audit.ReadAsync(keep - 1, 1), CancellationToken.None)).Single();
        await ExecuteAsync($"DELETE FROM audit_log WHERE seq > {keep}");
        await ExecuteAsync("UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1", ("@s", keep), ("@h", kept.Hash));
    }

    /// <summary>Edits record <paramref name="sequence"/> and recomputes every later hash and the head, as an attacker can.</summary>
    private async Task RewriteAsync(long sequence, string subject)
    {
        var entries = await _database.ReadAsync(s => s.Audit.ReadAsync(sequence - 1, 10_000), CancellationToken.None);
        byte[] previous = entries[0].PreviousHash;
        foreach (var entry in entries)
        {
            var e = new AuditEvent(entry.Event, entry.Outcome, entry.Sequence == sequence ? subject : entry.Subject, entry.Reason, entry.Details);
            byte[] hash = AuditChain.ComputeHash(entry.Sequence, entry.Timestamp, e, previous);
            await ExecuteAsync("UPDATE audit_log SET subject = @sub, prev_hash = @p, hash = @h WHERE seq = @s", ("@sub", e.Subject), ("@p", previous), ("@h", hash), ("@s", entry.Sequence));
            previous = hash;
        }

        await ExecuteAsync("UPDATE audit_head SET hash = @h WHERE id = 1", ("@h", previous));
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = OpenRaw();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

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

        await command.ExecuteNonQueryAsync();
    }
}
