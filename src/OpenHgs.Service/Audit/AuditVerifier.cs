using System.Security.Cryptography;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>
/// <c>hgs audit verify</c> and <c>hgs audit checkpoint export</c>: the chain checked against every checkpoint the
/// key store's checkpoint key verifies (the rows, this process's newest, and a checkpoint the operator kept).
/// </summary>
public sealed class AuditVerifier(IHgsDatabase database, AuditCheckpointer checkpoints, TimeProvider time)
{
    /// <summary>Verifies the trail; <paramref name="kept"/> is a checkpoint the operator exported earlier (or null).</summary>
    public Task<AuditTrailReport> VerifyAsync(AuditCheckpoint? kept, CancellationToken cancellationToken)
    {
        // This process's newest checkpoint is taken before the rows are read: it committed, so the rows then include it.
        var held = new List<HeldCheckpoint>();
        if (checkpoints.LastSigned is { } own)
        {
            held.Add(new HeldCheckpoint(AuditCheckpointSource.Process, own));
        }

        if (kept is not null)
        {
            held.Add(new HeldCheckpoint(AuditCheckpointSource.File, kept));
        }

        var policy = new AuditCheckpointPolicy(checkpoints.Key.Verifies, held, time.GetUtcNow(), checkpoints.Options.StaleAfter);
        return database.ReadAsync(s => s.Audit.VerifyAsync(policy), cancellationToken);
    }

    /// <summary>The newest checkpoint row whose signature verifies and whose record the chain holds with that hash.</summary>
    public Task<AuditCheckpoint> NewestAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(
            async s =>
            {
                const int PageSize = 100;
                long before = long.MaxValue;
                while (true)
                {
                    var page = await s.Audit.CheckpointsBeforeAsync(before, PageSize).ConfigureAwait(false);
                    foreach (var checkpoint in page.Where(checkpoints.Key.Verifies))
                    {
                        var record = await s.Audit.ReadAsync(checkpoint.Sequence - 1, 1).ConfigureAwait(false);
                        if (record.Count == 1 && record[0].Sequence == checkpoint.Sequence && CryptographicOperations.FixedTimeEquals(record[0].Hash, checkpoint.Hash))
                        {
                            return checkpoint;
                        }
                    }

                    if (page.Count < PageSize)
                    {
                        throw ServiceException.Conflict("NoAuditCheckpoint", "There is no signed audit checkpoint that the chain matches yet (the service signs one at start, every few seconds while records arrive, and at shutdown); run 'hgs audit verify' to see why.");
                    }

                    before = page[^1].Sequence;
                }
            },
            cancellationToken);
}
