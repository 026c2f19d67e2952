using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>The queue an audit record waits in before <see cref="AuditWriter"/> commits it.</summary>
public enum AuditLane
{
    /// <summary>Successes (a key release): always first in the next transaction, never behind refusals.</summary>
    Priority,

    /// <summary>Refusals: bounded; beyond the bound counted into one aggregated record per event, outcome and code.</summary>
    Refusal,
}

/// <summary>What a request's write in an audit batch (<see cref="AuditWriter.CommitAsync{T}"/>) gives back: its result and the record to append (null: it wrote nothing).</summary>
public readonly record struct AuditedWrite<T>(T Result, AuditEvent? Record);

/// <summary>
/// Appends audit records — records that stand alone (a key release changes nothing else in the database) and records
/// made by a request's own write in the same transaction (<see cref="CommitAsync{T}"/>: an attestation marks its nonce
/// used) — committing what arrives together in one transaction (group commit: one durable commit for many requests).
/// </summary>
/// <remarks>
/// <para>Security contract: <see cref="AppendAsync"/> completes only after the transaction holding its record has
/// committed, as durably as the database commits, and throws <see cref="ServiceException"/> <c>AuditUnavailable</c> (503)
/// when that transaction failed; a caller must not answer before it completes (fail closed). A failed batch fails every
/// waiting record in it and none is retried behind the caller's back. A caller that stops waiting (cancelled request)
/// does not withdraw its record: it is queued whatever the caller's token (only the writer's shutdown refuses it), so a
/// client that disconnects cannot keep its refusal out of the trail. Waiting adds no delay when the service is quiet: a
/// batch is whatever is queued when the previous commit finishes. When a checkpoint is due
/// (<see cref="AuditCheckpointer.IsDue"/>), the batch's transaction also signs the new head; if that fails the batch
/// fails like any other commit failure.</para>
/// <para>Lanes (<see cref="LaneOf"/>): successes go to the priority lane, which each transaction empties first, so a
/// release waits at most for the transaction already committing, however many refusals are queued. Refusals, which
/// anyone can cause without a credential, go to a bounded refusal lane; when it is full a refusal is counted (by event,
/// outcome and code) into one aggregated record (<see cref="AuditRecord.AggregateSubject"/>, its count in
/// <c>aggregatedCount</c>), whose commit its caller waits for like any other. So every refusal is counted, none waits
/// behind more than a bounded queue, and a flood costs memory per code, not per request. Records keep their arrival
/// order within a lane; an aggregated record stands where it was written, with the first and last time it counts.</para>
/// <para>Error records (<see cref="RecordError"/>: a request that failed because the database or key store was
/// unavailable) are not waited for and survive failed commits: they are kept (bounded, then counted) and written as soon
/// as the database answers again, retried with back-off; each is logged (event 1902) when it is queued, and records that
/// a shutdown forces the writer to drop are logged (event 1904), so no such failure goes unrecorded.</para>
/// </remarks>
public sealed partial class AuditWriter : IAsyncDisposable
{
    /// <summary>At most this many records per transaction, so one commit stays short.</summary>
    public const int MaxBatch = 64;

    private readonly IHgsDatabase _database;
    private readonly AuditCheckpointer _checkpoints;
    private readonly AuditWriterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditWriter> _logger;
    private readonly Observability.HgsMetrics? _metrics;
    private readonly Channel<Pending> _priority = Channel.CreateBounded<Pending>(new BoundedChannelOptions(4096) { SingleReader = true });
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _gate = new();
    private readonly Queue<Pending> _refusals = new();
    private readonly AuditTally _refusalOverflow = new();
    private readonly List<Pending> _errors = [];
    private readonly AuditTally _errorOverflow = new();
    private readonly Task _loop;
    private bool _closing;
    private DateTimeOffset _errorsDueAt = DateTimeOffset.MinValue;
    private TimeSpan _retryDelay;
    private long _committedRecords;
    private long _committedBatches;
    private long _aggregatedRefusals;

    /// <param name="metrics">Where commit latency and queue depth go; null: not measured (tests that build a writer alone).</param>
    public AuditWriter(IHgsDatabase database, AuditCheckpointer checkpoints, AuditWriterOptions options, TimeProvider time, ILogger<AuditWriter> logger, Observability.HgsMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _database = database;
        _checkpoints = checkpoints;
        _options = options.Validated();
        _time = time;
        _logger = logger;
        _metrics = metrics;
        metrics?.ObserveAuditQueue(QueueDepth);
        _loop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Records committed so far (an aggregated record counts once; for metrics and tests).</summary>
    public long CommittedRecords => Interlocked.Read(ref _committedRecords);

    /// <summary>Transactions committed so far; records per transaction = <see cref="CommittedRecords"/> / this.</summary>
    public long CommittedBatches => Interlocked.Read(ref _committedBatches);

    /// <summary>Refusals that found their lane full and were counted into aggregated records.</summary>
    public long AggregatedRefusals => Interlocked.Read(ref _aggregatedRefusals);

    /// <summary>The lane a record goes to: refusals to the bounded refusal lane, everything else to the priority lane.</summary>
    public static AuditLane LaneOf(AuditEvent auditEvent)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        return auditEvent.Outcome == AuditOutcomes.Refused ? AuditLane.Refusal : AuditLane.Priority;
    }

    /// <summary>Completes when <paramref name="auditEvent"/> (or the aggregated record counting it) is committed; throws AuditUnavailable (503) if it could not be.</summary>
    public async Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        Task committed = LaneOf(auditEvent) == AuditLane.Priority
            ? await EnqueuePriorityAsync(auditEvent).ConfigureAwait(false)
            : EnqueueRefusal(auditEvent);
        Wake();
        await committed.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="write"/> inside the next group transaction, in the priority lane, and appends the audit record
    /// it returns (none when it returns null: it wrote nothing); completes with its result once that transaction has
    /// committed. For a request whose own database writes must commit together with its audit record (an attestation
    /// marks its nonce used): one durable commit serves every request in the batch.
    /// </summary>
    /// <remarks>
    /// <paramref name="write"/> runs on the writer's loop, after the writes of the requests before it in the same
    /// transaction, so it sees them (two attestations of one nonce in one batch: the second finds it used). It may run
    /// more than once: when another write of the batch throws, the transaction is rolled back, that caller gets its
    /// exception, and the rest of the batch runs again in a new transaction — so it must only read and write through
    /// the session it is given and keep nothing from an earlier run. A store outage (database or key store) fails the
    /// whole batch like any commit failure (<c>AuditUnavailable</c>, 503). The caller's token does not withdraw it.
    /// </remarks>
    public async Task<T> CommitAsync<T>(Func<HgsSession, Task<AuditedWrite<T>>> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        T result = default!;
        var pending = Pending.Write(async session =>
        {
            var done = await write(session).ConfigureAwait(false);
            result = done.Result;
            return done.Record;
        });
        Task committed = await EnqueuePriorityAsync(pending).ConfigureAwait(false);
        Wake();
        await committed.WaitAsync(cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Queues the record of a request that failed because a store was unavailable (outcome <see cref="AuditOutcomes.Error"/>)
    /// and returns at once: the request answers 503 without waiting, and the record is committed as soon as the database
    /// can take it, however many attempts that needs. Logs the failure (event 1902) now, so it is visible even while the
    /// database is away.
    /// </summary>
    public void RecordError(AuditEvent auditEvent)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        bool accepted = true;
        lock (_gate)
        {
            if (_closing)
            {
                accepted = false;
            }
            else if (_errors.Count < _options.ErrorRecordCapacity)
            {
                _errors.Add(Pending.Error(auditEvent));
            }
            else
            {
                var now = _time.GetUtcNow();
                _errorOverflow.Add(auditEvent, 1, now, now, out _);
            }
        }

        LogErrorQueued(_logger, auditEvent.Event, auditEvent.Subject, auditEvent.Reason ?? "unknown");
        if (!accepted)
        {
            LogErrorRecordsLost(_logger, 1, auditEvent.Event + " " + auditEvent.Reason);
        }

        Wake();
    }

    public async ValueTask DisposeAsync()
    {
        // The priority lane closes first: once the loop sees _closing, no priority record can still arrive unseen.
        _priority.Writer.TryComplete();
        lock (_gate)
        {
            _closing = true;
        }

        Wake();
        await _loop.ConfigureAwait(false);
    }

    private Task<Task> EnqueuePriorityAsync(AuditEvent auditEvent) => EnqueuePriorityAsync(Pending.Waited(auditEvent));

    private async Task<Task> EnqueuePriorityAsync(Pending pending)
    {
        try
        {
            // Not the caller's token: a disconnected client must not withdraw its record. Completing the queue at
            // shutdown wakes a writer waiting for room (ChannelClosedException).
            await _priority.Writer.WriteAsync(pending, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }

        return pending.Committed!.Task;
    }

    private Task EnqueueRefusal(AuditEvent auditEvent)
    {
        bool opened;
        Task committed;
        lock (_gate)
        {
            if (_closing)
            {
                throw AuditRecord.AuditUnavailable(new ObjectDisposedException(nameof(AuditWriter)));
            }

            if (_refusals.Count < _options.RefusalLaneCapacity)
            {
                var pending = Pending.Waited(auditEvent);
                _refusals.Enqueue(pending);
                return pending.Committed!.Task;
            }

            var now = _time.GetUtcNow();
            var bucket = _refusalOverflow.Add(auditEvent, 1, now, now, out opened);
            committed = bucket.Committed.Task;
        }

        Interlocked.Increment(ref _aggregatedRefusals);
        if (opened)
        {
            LogRefusalsAggregated(_logger, auditEvent.Event, auditEvent.Reason ?? "unknown", _options.RefusalLaneCapacity);
        }

        return committed;
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (true)
        {
            _wake.Reader.TryRead(out _);
            TakeBatch(batch);
            if (batch.Count > 0)
            {
                await CommitAsync(batch).ConfigureAwait(false);
                continue;
            }

            TimeSpan? retryIn;
            lock (_gate)
            {
                if (_closing)
                {
                    return;
                }

                retryIn = _errors.Count + _errorOverflow.Count > 0 ? _errorsDueAt - _time.GetUtcNow() : null;
            }

            var woken = _wake.Reader.WaitToReadAsync().AsTask();
            if (retryIn is not { } delay)
            {
                await woken.ConfigureAwait(false);
            }
            else if (delay > TimeSpan.Zero)
            {
                using var stop = new CancellationTokenSource();
                await Task.WhenAny(woken, Task.Delay(delay, _time, stop.Token)).ConfigureAwait(false);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The next transaction's records: the priority lane first, then error records (when due), then refusals.</summary>
    private void TakeBatch(List<Pending> batch)
    {
        batch.Clear();
        while (batch.Count < MaxBatch && _priority.Reader.TryRead(out var next))
        {
            batch.Add(next);
        }

        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_closing || now >= _errorsDueAt)
            {
                int errors = Math.Min(MaxBatch - batch.Count, _errors.Count);
                batch.AddRange(_errors.Take(errors));
                _errors.RemoveRange(0, errors);
                batch.AddRange(_errorOverflow.Take(MaxBatch - batch.Count).Select(Pending.ErrorAggregate));
            }

            // Aggregates before queued refusals: under a steady flood the queue is always full, and the counts must not starve.
            batch.AddRange(_refusalOverflow.Take(MaxBatch - batch.Count).Select(Pending.RefusalAggregate));
            while (batch.Count < MaxBatch && _refusals.TryDequeue(out var refusal))
            {
                batch.Add(refusal);
            }
        }
    }

    /// <summary>Records waiting: the priority queue, queued refusals and held error records.</summary>
    private int QueueDepth()
    {
        lock (_gate)
        {
            return _priority.Reader.Count + _refusals.Count + _errors.Count;
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        // A request's write that throws (not a store outage) fails that request alone: the transaction is rolled back and
        // the rest of the batch runs again without it (at most once per request in the batch).
        while (await TryCommitAsync(batch).ConfigureAwait(false) is { } failed)
        {
            failed.Pending.Committed!.TrySetException(failed.InnerException!);
            batch.Remove(failed.Pending);
            if (batch.Count == 0)
            {
                return;
            }
        }
    }

    /// <summary>Commits the batch (or fails every request in it); returns the one request whose own write threw instead, having committed nothing.</summary>
    private async Task<WriteFailure?> TryCommitAsync(List<Pending> batch)
    {
        long start = _metrics?.Start() ?? 0;
        int records = 0;
        try
        {
            var checkpoint = await _database.InTransactionAsync(
                async session =>
                {
                    long? head = null;
                    records = 0;
                    foreach (var pending in batch)
                    {
                        var record = pending.Event;
                        if (pending.Writes is { } write)
                        {
                            try
                            {
                                record = await write(session).ConfigureAwait(false);
                            }
                            catch (Exception ex) when (AuditRecord.OutageCode(ex) is null)
                            {
                                throw new WriteFailure(pending, ex);
                            }
                        }

                        if (record is not null)
                        {
                            head = (await session.Audit.AppendAsync(record).ConfigureAwait(false)).Sequence;
                            records++;
                        }
                    }

                    return head is { } last && _checkpoints.IsDue(last) ? await _checkpoints.SignHeadAsync(session).ConfigureAwait(false) : null;
                },
                CancellationToken.None).ConfigureAwait(false);
            if (checkpoint is not null)
            {
                _checkpoints.Committed(checkpoint);
            }

            Interlocked.Add(ref _committedRecords, records);
            Interlocked.Increment(ref _committedBatches);
            _metrics?.AuditCommit(records, committed: true, _metrics.Since(start));
            bool recovered;
            lock (_gate)
            {
                recovered = _retryDelay > TimeSpan.Zero;
                _retryDelay = TimeSpan.Zero;
                _errorsDueAt = DateTimeOffset.MinValue;
            }

            int errors = batch.Count(p => p.IsError);
            if (recovered && errors > 0)
            {
                LogErrorRecordsCommitted(_logger, errors);
            }

            batch.ForEach(p => p.Committed?.TrySetResult());
            return null;
        }
        catch (WriteFailure failure)
        {
            LogWriteFailed(_logger, failure.InnerException!);
            return failure;
        }
        catch (Exception ex)
        {
            // Logged in full here; callers see the generic AuditUnavailable (Vault's audit rule).
            LogBatchFailed(_logger, batch.Count, ex);
            _metrics?.AuditCommit(batch.Count, committed: false, _metrics.Since(start));
            var refusal = AuditRecord.AuditUnavailable(ex);
            foreach (var pending in batch.Where(p => !p.IsError))
            {
                pending.Committed?.TrySetException(refusal);
            }

            KeepErrors(batch.Where(p => p.IsError).ToList());
            return null;
        }
    }

    /// <summary>Error records whose commit failed go back to the front of their queue and are tried again after a back-off.</summary>
    private void KeepErrors(List<Pending> failed)
    {
        long lost = 0;
        lock (_gate)
        {
            if (_closing)
            {
                lost = failed.Sum(p => p.Bucket?.Count ?? 1);
            }
            else
            {
                _errors.InsertRange(0, failed.Where(p => p.Bucket is null));
                failed.Where(p => p.Bucket is not null).ToList().ForEach(p => _errorOverflow.Restore(p.Bucket!));
            }

            if (_errors.Count + _errorOverflow.Count > 0)
            {
                _retryDelay = _retryDelay == TimeSpan.Zero ? _options.RetryInitial : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, _options.RetryMaximum.Ticks));
                _errorsDueAt = _time.GetUtcNow() + _retryDelay;
            }
        }

        if (lost > 0)
        {
            LogErrorRecordsLost(_logger, lost, string.Join(", ", failed.Select(p => p.Event!.Event + " " + p.Event.Reason).Distinct()));
        }
    }

    [LoggerMessage(EventId = 1900, Level = LogLevel.Error, Message = "Audit batch of {Count} records could not be committed; every request waiting in it is refused, error records in it are kept and retried")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 1905, Level = LogLevel.Error, Message = "A request's write in an audit batch failed; that request is refused and the rest of the batch is committed without it")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1901, Level = LogLevel.Warning, Message = "Refusal audit lane full ({Capacity} queued): further {Event} refusals with code {Code} are counted into one aggregated audit record")]
    private static partial void LogRefusalsAggregated(ILogger logger, string @event, string code, int capacity);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Error, Message = "{Event} for {Subject} failed with {Code} (a store is unavailable); its audit record (outcome error) is queued and written as soon as the database answers")]
    private static partial void LogErrorQueued(ILogger logger, string @event, string subject, string code);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Information, Message = "The database answers again: {Count} queued error audit records were committed")]
    private static partial void LogErrorRecordsCommitted(ILogger logger, int count);

    [LoggerMessage(EventId = 1904, Level = LogLevel.Critical, Message = "{Count} error audit records could not be written before shutdown and exist only in this log: {Records}")]
    private static partial void LogErrorRecordsLost(ILogger logger, long count, string records);

    /// <summary>A request's write that threw inside a batch transaction (rolled back): its request alone is refused.</summary>
    private sealed class WriteFailure(Pending pending, Exception exception) : Exception("A request's write failed in its audit batch.", exception)
    {
        public Pending Pending { get; } = pending;
    }

    /// <summary>
    /// A record waiting for a transaction: waited for by its caller (or every caller counted into its bucket), or an error
    /// record nobody waits for; or a request's write (<see cref="CommitAsync{T}"/>), which makes its record in the transaction.
    /// </summary>
    private sealed class Pending
    {
        private Pending(AuditEvent? auditEvent, TaskCompletionSource? committed, bool isError, AuditTally.Bucket? bucket, Func<HgsSession, Task<AuditEvent?>>? writes = null)
        {
            Event = auditEvent;
            Committed = committed;
            IsError = isError;
            Bucket = bucket;
            Writes = writes;
        }

        /// <summary>The record; null for a request's write, whose record its write returns.</summary>
        public AuditEvent? Event { get; }

        public Func<HgsSession, Task<AuditEvent?>>? Writes { get; }

        public TaskCompletionSource? Committed { get; }

        public bool IsError { get; }

        public AuditTally.Bucket? Bucket { get; }

        public static Pending Waited(AuditEvent auditEvent) => new(auditEvent, new(TaskCreationOptions.RunContinuationsAsynchronously), false, null);

        public static Pending Error(AuditEvent auditEvent) => new(auditEvent, null, true, null);

        public static Pending Write(Func<HgsSession, Task<AuditEvent?>> writes) => new(null, new(TaskCreationOptions.RunContinuationsAsynchronously), false, null, writes);

        public static Pending RefusalAggregate(AuditTally.Bucket bucket) => new(bucket.ToRecord(), bucket.Committed, false, bucket);

        public static Pending ErrorAggregate(AuditTally.Bucket bucket) => new(bucket.ToRecord(), null, true, bucket);
    }
}
