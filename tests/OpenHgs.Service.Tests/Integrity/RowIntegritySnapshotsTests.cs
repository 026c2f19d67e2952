using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Integrity;

namespace OpenHgs.Service.Tests.Integrity;

/// <summary>
/// <see cref="RowIntegritySnapshots"/> (design change 81): the dashboard's row report is read at most once per
/// <see cref="RowIntegritySnapshots.MaxAge"/>, one read shared by everyone asking meanwhile, while a fresh report
/// (<c>hgs audit rows</c>, "Verify now") always reads and replaces it. Reads are counted by a stand-in check.
/// </summary>
public sealed class RowIntegritySnapshotsTests
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);
    private readonly MovableTime _time = new();
    private int _reads;

    [Fact]
    public async Task The_report_is_read_once_per_interval_and_says_when_it_was_taken()
    {
        var reports = new RowIntegritySnapshots(CountedCheck, _time, MaxAge);
        var takenAt = _time.GetUtcNow();
        var first = await reports.LatestAsync(CancellationToken.None);
        Assert.Equal((1, takenAt, takenAt + MaxAge, 1), (_reads, first.TakenAt, first.RefreshAfter, first.Report.Rows));

        // Thirty-second refreshes within the interval answer the same report without reading.
        for (int refresh = 0; refresh < 9; refresh++)
        {
            _time.Advance(TimeSpan.FromSeconds(30));
            Assert.Same(first, await reports.LatestAsync(CancellationToken.None));
        }

        Assert.Equal(1, _reads);
        _time.Advance(TimeSpan.FromSeconds(30));
        var second = await reports.LatestAsync(CancellationToken.None);
        Assert.Equal((2, takenAt + MaxAge, 2), (_reads, second.TakenAt, second.Report.Rows));
    }

    [Fact]
    public async Task A_fresh_report_always_reads_and_becomes_the_one_shown()
    {
        var reports = new RowIntegritySnapshots(CountedCheck, _time, MaxAge);
        var shown = await reports.LatestAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        var fresh = await reports.FreshAsync(CancellationToken.None);
        var again = await reports.FreshAsync(CancellationToken.None);
        Assert.Equal(3, _reads);
        Assert.True(fresh.TakenAt > shown.TakenAt);
        Assert.Same(again, await reports.LatestAsync(CancellationToken.None));
        Assert.Equal(3, _reads);
    }

    [Fact]
    public async Task Callers_asking_while_a_report_is_read_share_that_read_and_one_giving_up_does_not_stop_it()
    {
        var gate = new TaskCompletionSource<RowIntegrityReport>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reports = new RowIntegritySnapshots(_ => { Interlocked.Increment(ref _reads); return gate.Task; }, _time, MaxAge);
        using var impatient = new CancellationTokenSource();
        var first = reports.LatestAsync(impatient.Token);
        var second = reports.LatestAsync(CancellationToken.None);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        gate.SetResult(Report(7));
        Assert.Equal(7, (await second).Report.Rows);
        Assert.Same(await second, await reports.LatestAsync(CancellationToken.None));
        Assert.Equal(1, _reads);
    }

    [Fact]
    public async Task A_read_that_fails_is_not_kept_and_the_next_request_reads_again()
    {
        bool unavailable = true;
        var reports = new RowIntegritySnapshots(
            ct => unavailable ? throw new TimeoutException("database busy") : CountedCheck(ct), _time, MaxAge);
        await Assert.ThrowsAsync<TimeoutException>(() => reports.LatestAsync(CancellationToken.None));
        unavailable = false;
        Assert.Equal(1, (await reports.LatestAsync(CancellationToken.None)).Report.Rows);
        Assert.Equal(1, _reads);
    }

    private Task<RowIntegrityReport> CountedCheck(CancellationToken cancellationToken) =>
        Task.FromResult(Report(Interlocked.Increment(ref _reads)));

    /// <summary>A report whose row count tells which read made it.</summary>
    private static RowIntegrityReport Report(int rows) => new(true, rows, []);

    private sealed class MovableTime : TimeProvider
    {
        private DateTimeOffset _now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
