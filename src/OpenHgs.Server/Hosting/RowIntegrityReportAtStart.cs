using Microsoft.Extensions.Logging;
using OpenHgs.Service.Integrity;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Runs <c>hgs audit rows</c>' check once when the server has started and logs what it finds (design change 66), so a
/// row tampered with while no node ran is in the log before a request trips over it. With many hosts and a network
/// HSM computing the row MACs it takes a while, hence in the background; a row it names is refused wherever it is
/// used anyway.
/// </summary>
internal sealed partial class RowIntegrityReportAtStart(RowIntegrityCheck check, ILogger<RowIntegrityReportAtStart> logger) : ReportAtStart
{
    protected override async Task ReportAsync(CancellationToken cancellationToken)
    {
        var report = await check.CheckAsync(cancellationToken).ConfigureAwait(false);
        foreach (var finding in report.Findings)
        {
            LogRowFails(logger, finding.Table, finding.Key, finding.Problem, finding.Message);
        }

        if (report.Valid)
        {
            LogRowsVerified(logger, report.Rows);
        }
    }

    protected override void ReportFailed(Exception exception) => LogReportFailed(logger, exception);

    [LoggerMessage(EventId = 2023, Level = LogLevel.Critical, Message = "Row {Table}/{Key} fails its integrity check ({Problem}): {Message} It is not used; 'hgs audit rows' lists every such row.")]
    private static partial void LogRowFails(ILogger logger, string table, string key, string problem, string message);

    [LoggerMessage(EventId = 2024, Level = LogLevel.Information, Message = "All {Rows} security-relevant rows verify and are the audit trail's newest word about themselves.")]
    private static partial void LogRowsVerified(ILogger logger, int rows);

    [LoggerMessage(EventId = 2025, Level = LogLevel.Warning, Message = "The row integrity report at start could not run; rows are still checked where they are used.")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
