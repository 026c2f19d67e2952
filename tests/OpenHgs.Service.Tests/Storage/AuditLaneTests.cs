using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Service;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Service.Tests.Storage;

/// <summary>
/// The audit writer's lanes on a real SQLite file (issue 9 §2): a refusal flood neither delays nor drops a release's
/// record, every refusal is counted (one by one or in an aggregated record), the aggregated records verify in the
/// chain, and an error record survives a failed commit until the database answers. The writer's first transaction is
/// held open by <see cref="GatedDatabase"/>, so the flood is queued behind it deterministically, not by timing.
/// </summary>
public sealed class AuditLaneTests : IAsyncLifetime
{
    private const int LaneCapacity = 8;
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-lanes-").FullName;
    private readonly SoftwareRowKey _rows = new();
    private readonly CheckpointKeyToken _key = new();
    private SqliteDatabase _sqlite = null!;
    private GatedDatabase _database = null!;
    private AuditWriter _writer = null!;

    public async Task InitializeAsync()
    {
        _sqlite = new SqliteDatabase(Path.Combine(_directory, "hgs.db"), TimeProvider.System, _rows.Authenticator);
        await _sqlite.MigrateAsync(CancellationToken.None);
        _database = new GatedDatabase(_sqlite);
        _writer = new AuditWriter(_database, _key.Checkpointer(_database),
            new AuditWriterOptions { RefusalLaneCapacity = LaneCapacity, RetryInitial = TimeSpan.FromMilliseconds(10), RetryMaximum = TimeSpan.FromMilliseconds(50) },
            TimeProvider.System, NullLogger<AuditWriter>.Instance);
    }

    public async Task DisposeAsync()
    {
        _database.Open();
        await _writer.DisposeAsync();
        _sqlite.Dispose();
        _key.Dispose();
        _rows.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    [Trait("Attack", "A75")]
    public async Task Release_record_commits_ahead_of_a_refusal_flood_and_every_refusal_is_counted()
    {
        const int Flood = 500;
        string[] codes = ["HealthCertificateExpired", "NotGrantedToFabric"];
        _database.Close();
        var inFlight = _writer.AppendAsync(Refusal("r-first", codes[0]), CancellationToken.None);
        await _database.Entered.WaitAsync(TimeSpan.FromSeconds(30));   // the first transaction holds the writer

        var flood = Enumerable.Range(0, Flood).Select(i => _writer.AppendAsync(Refusal($"r{i}", codes[i % 2]), CancellationToken.None)).ToList();
        var release = _writer.AppendAsync(
            AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, "host-1", null, ("wrappingId", "w1")), CancellationToken.None);
        Assert.False(release.IsCompleted);
        _database.Open();
        await Task.WhenAll([inFlight, release, .. flood]);

        var records = await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 10_000), CancellationToken.None);
        long first = records.Single(r => r.Subject == "r-first").Sequence;
        var released = records.Single(r => r.Outcome == AuditOutcomes.Success);
        Assert.Equal(first + 1, released.Sequence);   // the very next transaction, ahead of every queued refusal
        Assert.True(records.Where(r => r.Outcome == AuditOutcomes.Refused && r.Subject != "r-first").All(r => r.Sequence > released.Sequence));

        // Every refusal is counted: one by one while the lane had room, the rest in one aggregated record per code.
        var refusals = records.Where(r => r.Outcome == AuditOutcomes.Refused).ToList();
        Assert.Equal(Flood + 1, refusals.Sum(Count));
        var aggregated = refusals.Where(r => r.Subject == AuditRecord.AggregateSubject).ToList();
        Assert.Equal(codes.Order(), aggregated.Select(r => r.Reason).Order());
        Assert.Equal(Flood - LaneCapacity, aggregated.Sum(Count));
        Assert.Equal(Flood - LaneCapacity, _writer.AggregatedRefusals);
        Assert.Equal(1 + LaneCapacity + codes.Length, refusals.Count);
        foreach (string code in codes)
        {
            Assert.Equal(Flood / 2 + (code == codes[0] ? 1 : 0), refusals.Where(r => r.Reason == code).Sum(Count));
        }

        var verified = await _sqlite.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None);
        Assert.True(verified.Valid, verified.Problem);
        Assert.Equal(records.Count, verified.Records);
    }

    [Fact]
    public async Task Error_record_survives_failed_commits_and_is_written_when_the_database_answers()
    {
        _database.Down = true;
        var waited = _writer.AppendAsync(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, "host-1", null), CancellationToken.None);
        _writer.RecordError(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Error, "host-2", "DatabaseUnavailable"));

        // A waited record fails with its batch (fail closed); the error record is kept and retried.
        var refused = await Assert.ThrowsAsync<ServiceException>(() => waited);
        Assert.Equal("AuditUnavailable", refused.Code);
        await _database.FailedTwice.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 100), CancellationToken.None));

        _database.Down = false;
        await _database.Committed.WaitAsync(TimeSpan.FromSeconds(30));
        var record = Assert.Single(await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 100), CancellationToken.None));
        Assert.Equal((AuditOutcomes.Error, "host-2", "DatabaseUnavailable"), (record.Outcome, record.Subject, record.Reason));
        var verified = await _sqlite.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None);
        Assert.True(verified.Valid, verified.Problem);
    }

    [Fact]
    public async Task Writes_queued_together_commit_in_one_transaction_and_each_sees_the_ones_before_it()
    {
        // Three attestations of one nonce held behind a first transaction: the batch after it runs them in order, so
        // exactly the first marks the nonce used and the others find it used — as separate transactions would.
        var expires = DateTimeOffset.UtcNow.AddMinutes(5);
        _database.Close();
        var first = _writer.AppendAsync(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, "gate", null), CancellationToken.None);
        await _database.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        long batchesBefore = _writer.CommittedBatches;
        var marks = Enumerable.Range(0, 3).Select(i => _writer.CommitAsync(
            async s =>
            {
                bool marked = await s.UsedNonces.TryMarkUsedAsync("nonce-1", expires);
                return new AuditedWrite<bool>(marked, AuditRecord.Create(AuditEvents.Attestation, marked ? AuditOutcomes.Success : AuditOutcomes.Refused, $"host-{i}", marked ? null : "NonceReplayed"));
            },
            CancellationToken.None)).ToList();
        _database.Open();
        await first;

        bool[] marked = await Task.WhenAll(marks);
        Assert.Equal(new[] { true, false, false }, marked);
        Assert.Equal(batchesBefore + 2, _writer.CommittedBatches);   // the gate's transaction, then all three in one
        var records = await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 100), CancellationToken.None);
        Assert.Equal(["gate", "host-0", "host-1", "host-2"], records.Select(r => r.Subject));
        Assert.Equal([null, null, "NonceReplayed", "NonceReplayed"], records.Select(r => r.Reason));
        Assert.True((await _sqlite.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None)).Valid);
    }

    [Fact]
    public async Task A_write_that_throws_fails_alone_leaves_nothing_and_the_rest_of_its_batch_commits()
    {
        var expires = DateTimeOffset.UtcNow.AddMinutes(5);
        _database.Close();
        var first = _writer.AppendAsync(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, "gate", null), CancellationToken.None);
        await _database.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        Task<bool> Mark(string nonce, bool thenThrow) => _writer.CommitAsync(
            async s =>
            {
                bool marked = await s.UsedNonces.TryMarkUsedAsync(nonce, expires);
                return thenThrow
                    ? throw new InvalidOperationException("bug in " + nonce)
                    : new AuditedWrite<bool>(marked, AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Success, nonce, null));
            },
            CancellationToken.None);
        var before = Mark("nonce-a", thenThrow: false);
        var broken = Mark("nonce-b", thenThrow: true);
        var after = Mark("nonce-c", thenThrow: false);
        _database.Open();
        await first;

        Assert.True(await before);
        Assert.True(await after);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => broken);
        Assert.Equal("bug in nonce-b", failure.Message);
        var records = await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 100), CancellationToken.None);
        Assert.Equal(["gate", "nonce-a", "nonce-c"], records.Select(r => r.Subject));
        Assert.False(await _sqlite.ReadAsync(s => s.UsedNonces.IsUsedAsync("nonce-b"), CancellationToken.None));   // its write was rolled back
        Assert.True(await _sqlite.ReadAsync(s => s.UsedNonces.IsUsedAsync("nonce-a"), CancellationToken.None));
        Assert.True((await _sqlite.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None)).Valid);
    }

    [Fact]
    public async Task Writes_fail_closed_with_AuditUnavailable_when_the_database_is_down_and_leave_nothing()
    {
        _database.Down = true;
        var write = _writer.CommitAsync(
            async s => new AuditedWrite<bool>(await s.UsedNonces.TryMarkUsedAsync("nonce-down", DateTimeOffset.UtcNow.AddMinutes(5)), AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Success, "h", null)),
            CancellationToken.None);
        var refused = await Assert.ThrowsAsync<ServiceException>(() => write);
        Assert.Equal("AuditUnavailable", refused.Code);
        _database.Down = false;
        Assert.False(await _sqlite.ReadAsync(s => s.UsedNonces.IsUsedAsync("nonce-down"), CancellationToken.None));
        Assert.Empty(await _sqlite.ReadAsync(s => s.Audit.ReadAsync(0, 100), CancellationToken.None));
    }

    [Fact]
    public void Lanes_follow_the_outcome()
    {
        Assert.Equal(AuditLane.Priority, AuditWriter.LaneOf(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Success, "h", null)));
        Assert.Equal(AuditLane.Refusal, AuditWriter.LaneOf(AuditRecord.Create(AuditEvents.Attestation, AuditOutcomes.Refused, "h", "NonceUnknown")));
    }

    private static AuditEvent Refusal(string subject, string code) =>
        AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Refused, subject, code, ("releaseKeyHandling", "hsm-only"));

    private static long Count(AuditEntry record) =>
        JsonDocument.Parse(record.Details).RootElement.TryGetProperty("aggregatedCount", out var count) ? long.Parse(count.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : 1;

    /// <summary>The real database, whose write transactions can be held at a gate or refused as if the database were down.</summary>
    private sealed class GatedDatabase(IHgsDatabase inner) : IHgsDatabase
    {
        private volatile TaskCompletionSource _gate = CompletedGate();
        private int _failures;

        public TaskCompletionSource EnteredSource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => EnteredSource.Task;

        public TaskCompletionSource FailedTwiceSource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task FailedTwice => FailedTwiceSource.Task;

        public TaskCompletionSource CommittedSource { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Committed => CommittedSource.Task;

        public volatile bool Down;

        public string Provider => inner.Provider;

        public void Close() => _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _gate.TrySetResult();

        public async Task<T> InTransactionAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken)
        {
            EnteredSource.TrySetResult();
            await _gate.Task.ConfigureAwait(false);
            if (Down)
            {
                if (Interlocked.Increment(ref _failures) >= 2)
                {
                    FailedTwiceSource.TrySetResult();
                }

                throw new DatabaseUnavailableException("The test database is down.");
            }

            var result = await inner.InTransactionAsync(work, cancellationToken).ConfigureAwait(false);
            CommittedSource.TrySetResult();
            return result;
        }

        public Task MigrateAsync(CancellationToken cancellationToken) => inner.MigrateAsync(cancellationToken);

        public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => inner.GetSchemaVersionAsync(cancellationToken);

        public Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) => inner.ReadAsync(work, cancellationToken);

        public Task<T> ReadSnapshotAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) => inner.ReadSnapshotAsync(work, cancellationToken);

        public Task<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

        public void Dispose()
        {
        }

        private static TaskCompletionSource CompletedGate()
        {
            var gate = new TaskCompletionSource();
            gate.SetResult();
            return gate;
        }
    }
}
