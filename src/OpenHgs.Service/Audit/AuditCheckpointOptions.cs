namespace OpenHgs.Service.Audit;

/// <summary>How often the audit head is signed (<see cref="AuditCheckpointer"/>).</summary>
public sealed record AuditCheckpointOptions
{
    /// <summary>A group commit signs the head once this many records are unsigned (records of any writer count).</summary>
    public int EveryRecords { get; init; } = 64;

    /// <summary>The head is signed at least this often while records arrive (and at start and clean shutdown).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An unsigned tail whose oldest record is older than this fails verification: checkpoints have stopped. Three
    /// intervals plus a minute of slack for slow commits and clock differences between nodes.
    /// </summary>
    public TimeSpan StaleAfter => (Interval * 3) + TimeSpan.FromMinutes(1);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for settings that would never or constantly sign.</summary>
    public AuditCheckpointOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(EveryRecords, 1, nameof(EveryRecords));
        ArgumentOutOfRangeException.ThrowIfLessThan(Interval, TimeSpan.FromMilliseconds(100), nameof(Interval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Interval, TimeSpan.FromDays(1), nameof(Interval));
        return this;
    }
}

/// <summary>
/// The checkpointer refused to sign the audit head because the chain no longer extends what was signed before
/// (truncated, rewritten, or broken after the newest checkpoint): signing would vouch for tampered records.
/// </summary>
public sealed class AuditCheckpointRefusedException(string message) : Exception(message);
