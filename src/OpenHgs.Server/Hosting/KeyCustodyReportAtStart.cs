using Microsoft.Extensions.Logging;
using OpenHgs.Service.Keys;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Runs <c>hgs keys custody</c>' check once when the server has started and logs every failure (design change 71): a
/// key someone replaced on the token with an extractable one is in the log at once, not only when an officer asks.
/// In the background, like the row report: readiness never waits for it, and it only reads.
/// In production it then checks again every <see cref="RecheckInterval"/> (design change 79): each check updates the
/// custody gate, so a key copy that turns up later (an extractable object under a fabric key's label, a cluster member
/// back with a bad copy) stops that key's use by attestation and key release within the interval, and its findings are
/// logged when they change.
/// </summary>
internal sealed partial class KeyCustodyReportAtStart(KeyCustodyCheck check, KeyCustodyGate gate, TimeProvider time, ILogger<KeyCustodyReportAtStart> logger) : ReportAtStart
{
    /// <summary>How often production re-checks every key (the check reads attributes only: one call per key object).</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromMinutes(5);

    // The failures the last check logged: a re-check that finds the same is quiet. One background task reads and writes it.
    private string? _previous;

    protected override TimeSpan? RepeatEvery => gate.Enforced ? RecheckInterval : null;

    protected override TimeProvider Time => time;

    // Only fabric keys are held back at run time; the audit checkpoint and row-MAC keys are judged at start (design change 79).
    private string Consequence(KeyCustodyEntry entry, KeyCustodyFinding finding) =>
        finding.Accepted ? "accepted by --accept-key-custody"
        : !finding.Critical || !gate.Enforced ? "reported only"
        : entry.FabricKeyId is null ? "the next start refuses it" : "the key is not used";

    /// <summary>One check; logs its failures unless they are those the check before logged.</summary>
    protected override async Task ReportAsync(CancellationToken cancellationToken)
    {
        var entries = await check.CheckAsync(cancellationToken).ConfigureAwait(false);
        var failures = entries.SelectMany(e => e.Findings.Where(f => f.Severity == KeyCustodySeverity.Failure).Select(f => (Entry: e, Finding: f))).ToList();
        string current = string.Join("\n", failures.Select(f => $"{f.Entry.Label} {f.Finding.Code} {f.Finding.Holder} {f.Finding.Accepted}"));
        if (current == _previous)
        {
            return;
        }

        _previous = current;
        foreach (var (entry, finding) in failures)
        {
            LogCustodyFails(logger, entry.Label, entry.Role, finding.Code, finding.Holder, finding.Message, Consequence(entry, finding));
        }

        if (entries.All(e => e.Passed))
        {
            LogCustodyVerified(logger, entries.Count);
        }
    }

    protected override void ReportFailed(Exception exception) => LogReportFailed(logger, exception);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Critical, Message = "Key {Label} ({Role}) fails its custody check ({Code}) on {Holder}: {Message}; {Consequence}. 'hgs keys custody' lists every finding.")]
    private static partial void LogCustodyFails(ILogger logger, string label, string role, KeyCustodyFindingCode code, string holder, string message, string consequence);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Information, Message = "All {Keys} keys of the fabric pass their custody check (warnings: 'hgs keys custody').")]
    private static partial void LogCustodyVerified(ILogger logger, int keys);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Warning, Message = "The key custody check could not run; 'hgs keys custody' runs it on demand.")]
    private static partial void LogReportFailed(ILogger logger, Exception exception);
}
