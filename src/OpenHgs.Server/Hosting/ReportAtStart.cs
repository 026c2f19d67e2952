using Microsoft.Extensions.Hosting;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// A check the server runs when it has started (and again every <see cref="RepeatEvery"/>, if set), logging what it
/// finds (the row integrity report, design change 66; key custody, 71 and 79), so a problem made while no node ran is in the log before anyone asks. In the background:
/// readiness never waits for it. It only reads, and a report that cannot run must not stop the server (what it checks
/// is checked again where it is used, or on demand): it logs that it could not run instead.
/// </summary>
internal abstract class ReportAtStart : BackgroundService
{
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            do
            {
                try
                {
                    await ReportAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    ReportFailed(ex);
                }
            }
            while (RepeatEvery is { } interval && await WaitAsync(interval, stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Null: the check runs once. Otherwise it runs again this long after each run (read after every run).</summary>
    protected virtual TimeSpan? RepeatEvery => null;

    /// <summary>The clock the wait between runs uses.</summary>
    protected virtual TimeProvider Time => TimeProvider.System;

    /// <summary>Runs the check and logs its findings.</summary>
    protected abstract Task ReportAsync(CancellationToken cancellationToken);

    /// <summary>Logs (its own event, naming where the check runs otherwise) that the check could not run.</summary>
    protected abstract void ReportFailed(Exception exception);

    private async Task<bool> WaitAsync(TimeSpan interval, CancellationToken stoppingToken)
    {
        await Task.Delay(interval, Time, stoppingToken).ConfigureAwait(false);
        return true;
    }
}
