using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>
/// Appends audit records that stand alone (a key release is one: it changes nothing else in the database), committing
/// the records that arrive together in one transaction (group commit: one durable commit for many records).
/// </summary>
/// <remarks>
/// Security contract: <see cref="AppendAsync"/> completes only after the transaction holding its record has committed,
/// as durably as the database commits, and throws <see cref="ServiceException"/> <c>AuditUnavailable</c> (503) when
/// that transaction failed; a caller must not answer before it completes (fail closed). A failed batch fails every
/// record in it and none is retried behind the caller's back. Records keep their arrival order in the chain. A caller
/// that stops waiting (cancelled request) does not withdraw its record: it is queued whatever the caller's token (only
/// the writer's shutdown refuses it), so a client that disconnects cannot keep its refusal out of the trail. Waiting adds no delay when the service is quiet: a batch is whatever is queued when
/// the previous commit finishes. When a checkpoint is due (<see cref="AuditCheckpointer.IsDue"/>: enough unsigned records
/// or time), the batch's transaction also signs the new head; if that fails (the key store cannot sign, or the chain no
/// longer extends the newest checkpoint) the batch fails like any other commit failure.
/// </remarks>
public sealed partial class AuditWriter : IAsyncDisposable
{
    /// <summary>At most this many records per transaction, so one commit stays short.</summary>
    public const int MaxBatch = 64;

    private readonly IHgsDatabase _database;
    private readonly AuditCheckpointer _checkpoints;
    private readonly ILogger<AuditWriter> _logger;
    private readonly Observability.HgsMetrics? _metrics;
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(4096) { SingleReader = true });
    private readonly Task _loop;
    private long _committedRecords;
    private long _committedBatches;

    /// <param name="metrics">Where commit latency and queue depth go; null: not measured (tests that build a writer alone).</param>
    public AuditWriter(IHgsDatabase database, AuditCheckpointer checkpoints, ILogger<AuditWriter> logger, Observability.HgsMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(logger);
        _database = database;
        _checkpoints = checkpoints;
        _logger = logger;
        _metrics = metrics;
        metrics?.ObserveAuditQueue(() => _queue.Reader.Count);
        _loop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Records committed so far (for metrics and tests).</summary>
    public long CommittedRecords => Interlocked.Read(ref _committedRecords);

    /// <summary>Transactions committed so far; records per transaction = <see cref="CommittedRecords"/> / this.</summary>
    public long CommittedBatches => Interlocked.Read(ref _committedBatches);

    /// <summary>Completes when <paramref name="auditEvent"/> is committed; throws AuditUnavailable (503) if it could not be.</summary>
    public async Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        var pending = new Pending(auditEvent);
        try
        {
            // Not the caller's token: a disconnected client must not withdraw its record. Completing the queue at
            // shutdown wakes a writer waiting for room (ChannelClosedException).
            await _queue.Writer.WriteAsync(pending, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }

        await pending.Committed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
            {
                batch.Add(next);
            }

            long start = _metrics?.Start() ?? 0;
            try
            {
                var checkpoint = await _database.InTransactionAsync(
                    async session =>
                    {
                        long head = 0;
                        foreach (var pending in batch)
                        {
                            head = (await session.Audit.AppendAsync(pending.Event).ConfigureAwait(false)).Sequence;
                        }

                        return _checkpoints.IsDue(head) ? await _checkpoints.SignHeadAsync(session).ConfigureAwait(false) : null;
                    },
                    CancellationToken.None).ConfigureAwait(false);
                if (checkpoint is not null)
                {
                    _checkpoints.Committed(checkpoint);
                }

                Interlocked.Add(ref _committedRecords, batch.Count);
                Interlocked.Increment(ref _committedBatches);
                _metrics?.AuditCommit(batch.Count, committed: true, _metrics.Since(start));
                batch.ForEach(p => p.Committed.TrySetResult());
            }
            catch (Exception ex)
            {
                // Logged in full here; callers see the generic AuditUnavailable (Vault's audit rule).
                LogBatchFailed(_logger, batch.Count, ex);
                _metrics?.AuditCommit(batch.Count, committed: false, _metrics.Since(start));
                var refusal = AuditRecord.AuditUnavailable(ex);
                batch.ForEach(p => p.Committed.TrySetException(refusal));
            }
        }
    }

    [LoggerMessage(EventId = 1900, Level = LogLevel.Error, Message = "Audit batch of {Count} records could not be committed; every request in it is refused")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception exception);

    private sealed class Pending(AuditEvent auditEvent)
    {
        public AuditEvent Event { get; } = auditEvent;

        public TaskCompletionSource Committed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
