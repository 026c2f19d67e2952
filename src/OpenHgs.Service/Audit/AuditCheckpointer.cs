using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>
/// Signs the audit head (sequence, hash, time) with the key store's checkpoint key and stores the checkpoint, so that
/// deleting the newest records or rewriting the chain (which anyone who can write the database can recompute) is found.
/// </summary>
/// <remarks>
/// Security contract: a checkpoint is only ever signed over records this process has verified to extend the previous
/// trusted point (the newest checkpoint whose signature verified with the key store's key, or the genesis when there is
/// none): a head that is behind it, differs from it, or does not link to it is refused with
/// <see cref="AuditCheckpointRefusedException"/>, never signed. <see cref="SignHeadAsync"/> runs inside the caller's write
/// transaction (which holds the head row), so its failure fails that transaction (the group commit: fail closed). What
/// this process learnt (the verified point, its newest signature) is only taken over after the commit
/// (<see cref="Committed"/>), so a rolled-back transaction never advances it.
/// </remarks>
public sealed partial class AuditCheckpointer
{
    private readonly IHgsDatabase _database;
    private readonly AuditCheckpointKey _key;
    private readonly TimeProvider _time;
    private readonly ILogger<AuditCheckpointer> _logger;
    private Anchor? _anchor;

    public AuditCheckpointer(IHgsDatabase database, AuditCheckpointKey key, AuditCheckpointOptions options, TimeProvider time, ILogger<AuditCheckpointer> logger)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _database = database;
        _key = key;
        Options = options.Validated();
        _time = time;
        _logger = logger;
    }

    public AuditCheckpointOptions Options { get; }

    public AuditCheckpointKey Key => _key;

    /// <summary>The newest checkpoint this process signed and committed (null before its first).</summary>
    public AuditCheckpoint? LastSigned => Volatile.Read(ref _anchor)?.OwnLatest;

    /// <summary>
    /// Whether a group commit that left the head at <paramref name="headSequence"/> should sign it: enough unsigned records
    /// or time, or a head behind what was verified (which signing then refuses: the commit fails closed).
    /// </summary>
    public bool IsDue(long headSequence)
    {
        var anchor = Volatile.Read(ref _anchor);
        return anchor is null
            || headSequence <= anchor.VerifiedSequence
            || (headSequence > anchor.SignedSequence
                && (headSequence - anchor.SignedSequence >= Options.EveryRecords || _time.GetUtcNow() - anchor.SignedAt >= Options.Interval));
    }

    /// <summary>
    /// Inside a write transaction: verifies the records after the trusted point up to the head (locking it), signs the
    /// head and stores the checkpoint. Null when the head is already signed. Hand the result to <see cref="Committed"/>
    /// once the transaction committed.
    /// </summary>
    public async Task<AuditCheckpoint?> SignHeadAsync(HgsSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var anchor = await GetAnchorAsync(session).ConfigureAwait(false);
        var (headSequence, headHash) = await session.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        await ExtendAsync(session, anchor, headSequence, headHash).ConfigureAwait(false);
        if (headSequence == anchor.SignedSequence || headSequence == 0)
        {
            return null;
        }

        var signedAt = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        var checkpoint = _key.Sign(headSequence, headHash, signedAt);
        await session.Audit.AddCheckpointAsync(checkpoint).ConfigureAwait(false);
        return checkpoint;
    }

    /// <summary>Takes over a checkpoint whose transaction committed: it is the new trusted point.</summary>
    public void Committed(AuditCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Advance(a =>
        {
            bool newestVerified = checkpoint.Sequence >= a.VerifiedSequence;
            bool newestSigned = checkpoint.Sequence >= a.SignedSequence;
            return new Anchor(
                newestVerified ? checkpoint.Sequence : a.VerifiedSequence,
                newestVerified ? checkpoint.Hash : a.VerifiedHash,
                newestSigned ? checkpoint.Sequence : a.SignedSequence,
                newestSigned ? checkpoint.SignedAt : a.SignedAt,
                a.OwnLatest is null || checkpoint.Sequence >= a.OwnLatest.Sequence ? checkpoint : a.OwnLatest);
        });
        LogSigned(_logger, checkpoint.Sequence);
    }

    /// <summary>
    /// Signs the head now in a transaction of its own (start, timer, shutdown), after verifying outside any transaction
    /// what arrived since the trusted point, so the head row stays locked only for the last few records.
    /// </summary>
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken)
    {
        await _database.ReadAsync(
            async s =>
            {
                var anchor = await GetAnchorAsync(s).ConfigureAwait(false);
                var (headSequence, headHash) = await s.Audit.ReadHeadAsync(lockRow: false).ConfigureAwait(false);
                await ExtendAsync(s, anchor, headSequence, headHash).ConfigureAwait(false);
                Advance(a => headSequence <= a.VerifiedSequence ? a : a with { VerifiedSequence = headSequence, VerifiedHash = headHash });
                return 0;
            },
            cancellationToken).ConfigureAwait(false);
        var checkpoint = await _database.InTransactionAsync(SignHeadAsync, cancellationToken).ConfigureAwait(false);
        if (checkpoint is not null)
        {
            Committed(checkpoint);
        }

        return checkpoint;
    }

    /// <summary>Refuses unless the chain from the trusted point to the head is intact and the head is not behind it.</summary>
    private static async Task ExtendAsync(HgsSession session, Anchor anchor, long headSequence, byte[] headHash)
    {
        if (headSequence < anchor.VerifiedSequence)
        {
            throw new AuditCheckpointRefusedException(
                $"The audit head names record {headSequence}, but record {anchor.VerifiedSequence} was already verified or signed: the newest records were deleted. Run 'hgs audit verify'.");
        }

        if (headSequence == anchor.VerifiedSequence)
        {
            if (!CryptographicOperations.FixedTimeEquals(headHash, anchor.VerifiedHash))
            {
                throw new AuditCheckpointRefusedException(
                    $"Record {headSequence}'s hash differs from the one verified or signed before: the chain was rewritten. Run 'hgs audit verify'.");
            }

            return;
        }

        var verifier = new AuditChainVerifier(anchor.VerifiedSequence, anchor.VerifiedHash);
        await session.Audit.WalkAsync(anchor.VerifiedSequence, headSequence, verifier.Add).ConfigureAwait(false);
        var result = verifier.Finish(headSequence, headHash);
        if (!result.Valid)
        {
            throw new AuditCheckpointRefusedException(
                $"The audit chain after record {anchor.VerifiedSequence} (the newest signed or verified) is broken at record {result.FirstBrokenSequence}: {result.Problem}. Run 'hgs audit verify'.");
        }
    }

    /// <summary>The trusted point, found once: the newest checkpoint row whose signature verifies, else the genesis.</summary>
    private async Task<Anchor> GetAnchorAsync(HgsSession session)
    {
        if (Volatile.Read(ref _anchor) is { } known)
        {
            return known;
        }

        const int PageSize = 100;
        long before = long.MaxValue;
        Anchor found = new(0, AuditChain.Genesis, 0, DateTimeOffset.MinValue, null);
        while (true)
        {
            var page = await session.Audit.CheckpointsBeforeAsync(before, PageSize).ConfigureAwait(false);
            if (page.FirstOrDefault(_key.Verifies) is { } newest)
            {
                found = new(newest.Sequence, newest.Hash, newest.Sequence, newest.SignedAt, null);
                break;
            }

            if (page.Count < PageSize)
            {
                break;
            }

            before = page[^1].Sequence;
        }

        return Interlocked.CompareExchange(ref _anchor, found, null) ?? found;
    }

    /// <summary>Swaps the whole snapshot (never edited in place), retrying if another thread swapped it meanwhile.</summary>
    private void Advance(Func<Anchor, Anchor> next)
    {
        while (true)
        {
            var current = Volatile.Read(ref _anchor);
            if (current is null)
            {
                return; // nothing trusted yet: the next use finds the newest checkpoint row (which includes this one)
            }

            var updated = next(current);
            if (ReferenceEquals(updated, current) || ReferenceEquals(Interlocked.CompareExchange(ref _anchor, updated, current), current))
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 1910, Level = LogLevel.Debug, Message = "Audit checkpoint signed at record {Sequence}")]
    private static partial void LogSigned(ILogger logger, long sequence);

    /// <summary>What this process trusts: the chain up to <see cref="VerifiedSequence"/> extends a signed checkpoint.</summary>
    /// <param name="SignedSequence">The newest record known to be signed (by any node: the row it started from, or this process).</param>
    /// <param name="OwnLatest">The newest checkpoint this process signed.</param>
    private sealed record Anchor(long VerifiedSequence, byte[] VerifiedHash, long SignedSequence, DateTimeOffset SignedAt, AuditCheckpoint? OwnLatest);
}
