using Microsoft.Extensions.Logging;
using OpenHgs.Service.Keys;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Runs <c>hgs keys custody</c>' check once when the server has started and logs every failure (design change 71): a
/// key someone replaced on the token with an extractable one is in the log at once, not only when an officer asks.
/// </summary>
internal sealed partial class KeyCustodyReportAtStart(KeyCustodyCheck check, ILogger<KeyCustodyReportAtStart> logger) : ReportAtStart
{
    protected override async Task ReportAsync(CancellationToken cancellationToken)
    {
        var entries = await check.CheckAsync(cancellationToken).ConfigureAwait(false);
        foreach (var entry in entries)
        {
            foreach (var finding in entry.Findings.Where(f => f.Severity == KeyCustodySeverity.Failure))
            {
                LogCustodyFails(logger, entry.Label, entry.Role, finding.Code, finding.Holder, finding.Message);
            }
        }

        if (entries.All(e => e.Passed))
        {
            LogCustodyVerified(logger, entries.Count);
        }
    }

    protected override void ReportFailed(Exception exception) => LogReportFailed(logger, exception);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Critical, Message = "Key {Label} ({Role}) fails its custody check ({Code}) on {Holder}: {Message}. 'hgs keys custody' lists every finding.")]
    private static partial void LogCustodyFails(ILogger logger, string label, string role, KeyCustodyFindingCode code, string holder, string message);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Information, Message = "All {Keys} keys of the fabric pass their custody check (warnings: 'hgs keys custody').")]
    private static partial void LogCustodyVerified(ILogger logger, int keys);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Warning, Message = "The key custody report at start could not run; 'hgs keys custody' runs it on demand.")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
