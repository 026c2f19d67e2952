using OpenHgs.Protocol.Wire;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// The row integrity report as this node last took it, for the dashboard (design change 81): the report reads every
/// row and verifies its MAC in the key store, so at 100,000 hosts a report on every 30-second refresh would cost the
/// HSM 100,000 operations each time. <see cref="LatestAsync"/> answers from the last report until it is
/// <see cref="MaxAge"/> old, then takes one new report that every request waiting for it shares;
/// <see cref="FreshAsync"/> (<c>hgs audit rows</c>, the dashboard's "Verify now") always reads every row now.
/// </summary>
/// <remarks>
/// A report is an immutable record published by compare-and-swap; the newest-begun one wins. It only reports: a row
/// tampered with after a report is refused on the request path exactly as before (the requests verify each row they
/// read), it is only shown here once the next report is taken. Each node keeps its own; a node takes a report only
/// when asked, so behind a load balancer the fabric's database is read at most once per node per <see cref="MaxAge"/>.
/// </remarks>
public sealed class RowIntegritySnapshots
{
    /// <summary>How long a report is shown before a request takes a new one.</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromMinutes(5);

    private readonly Func<CancellationToken, Task<RowIntegrityReport>> _check;
    private readonly TimeProvider _time;
    private volatile RowIntegritySnapshot? _latest;
    private Lazy<Task<RowIntegritySnapshot>>? _taking;

    public RowIntegritySnapshots(RowIntegrityCheck check, TimeProvider time)
        : this(check is null ? throw new ArgumentNullException(nameof(check)) : check.CheckAsync, time, DefaultMaxAge)
    {
    }

    /// <param name="check">Reads every row now (<see cref="RowIntegrityCheck.CheckAsync"/>).</param>
    /// <param name="time">The clock a report's age is measured with.</param>
    /// <param name="maxAge">How long a report is shown before a request takes a new one.</param>
    public RowIntegritySnapshots(Func<CancellationToken, Task<RowIntegrityReport>> check, TimeProvider time, TimeSpan maxAge)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxAge, TimeSpan.Zero);
        _check = check;
        _time = time;
        MaxAge = maxAge;
    }

    public TimeSpan MaxAge { get; }

    /// <summary>
    /// The last report while it is younger than <see cref="MaxAge"/>; else a new one, one read shared by every caller
    /// asking meanwhile (a caller that gives up does not stop it for the others). A read that fails is not kept: the
    /// next request tries again.
    /// </summary>
    public async Task<RowIntegritySnapshot> LatestAsync(CancellationToken cancellationToken)
    {
        var seen = Volatile.Read(ref _taking);
        // A read publishes its report before it completes, so this also sees one that completed just now.
        if (_latest is { } latest && _time.GetUtcNow() < latest.RefreshAfter)
        {
            return latest;
        }

        var taking = seen;
        if (seen is null || seen.Value.IsCompleted)
        {
            // The last read (if any) is done and too old: start one; a caller that raced us here joins the winner's.
            var mine = new Lazy<Task<RowIntegritySnapshot>>(() => TakeAsync(CancellationToken.None));
            taking = Interlocked.CompareExchange(ref _taking, mine, seen) == seen ? mine : Volatile.Read(ref _taking)!;
        }

        return await taking!.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A new report read now, which also becomes the one <see cref="LatestAsync"/> answers.</summary>
    public Task<RowIntegritySnapshot> FreshAsync(CancellationToken cancellationToken) => TakeAsync(cancellationToken);

    private async Task<RowIntegritySnapshot> TakeAsync(CancellationToken cancellationToken)
    {
        var takenAt = _time.GetUtcNow();
        var report = await _check(cancellationToken).ConfigureAwait(false);
        var taken = new RowIntegritySnapshot(takenAt, takenAt + MaxAge, report);
        Publish(taken);
        return taken;
    }

    /// <summary>Keeps the report whose read began last (two reads may end in either order).</summary>
    private void Publish(RowIntegritySnapshot taken)
    {
        var current = _latest;
        while (current is null || current.TakenAt <= taken.TakenAt)
        {
            var seen = Interlocked.CompareExchange(ref _latest, taken, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
