namespace OpenHgs.Service.Audit;

/// <summary>Bounds of <see cref="AuditWriter"/>'s lanes and how it retries error records while the database is away.</summary>
public sealed record AuditWriterOptions
{
    /// <summary>
    /// Refusal records queued one by one; refusals beyond this are counted into one aggregated record per event, outcome
    /// and code until the lane has room again (an unauthenticated flood costs a counter, not a row per request).
    /// </summary>
    public int RefusalLaneCapacity { get; init; } = 1024;

    /// <summary>Error records (a request that failed because a store was unavailable) kept one by one; beyond this they are counted.</summary>
    public int ErrorRecordCapacity { get; init; } = 1024;

    /// <summary>First wait before error records whose commit failed are tried again; doubled after each failure.</summary>
    public TimeSpan RetryInitial { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between two attempts to write error records while the database stays away.</summary>
    public TimeSpan RetryMaximum { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for bounds that would drop records or spin.</summary>
    public AuditWriterOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(RefusalLaneCapacity, 1, nameof(RefusalLaneCapacity));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RefusalLaneCapacity, 1_000_000, nameof(RefusalLaneCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(ErrorRecordCapacity, 1, nameof(ErrorRecordCapacity));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ErrorRecordCapacity, 1_000_000, nameof(ErrorRecordCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryInitial, TimeSpan.FromMilliseconds(10), nameof(RetryInitial));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaximum, RetryInitial, nameof(RetryMaximum));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RetryMaximum, TimeSpan.FromHours(1), nameof(RetryMaximum));
        return this;
    }
}
