using Microsoft.Extensions.Logging;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// Design change 79: in <c>--production</c> the service does not start while a key it uses has a critical custody
/// finding (the token says the key can have left it) that no admin accepted. An accepted finding is logged (critical)
/// and audited at every start, so the override can never be silent.
/// </summary>
internal static partial class KeyCustodyAtStart
{
    /// <exception cref="HgsConfigurationException"><c>keyStore</c>: a key has a critical finding no admin accepted (one line naming it).</exception>
    public static async Task EnforceAsync(KeyCustodyCheck check, KeyCustodyGate gate, IHgsDatabase database, ILogger logger, CancellationToken cancellationToken)
    {
        if (!gate.Enforced)
        {
            return;
        }

        var entries = await check.CheckAsync(cancellationToken).ConfigureAwait(false);
        var blocked = entries.Where(e => e.Blocked).ToList();
        if (blocked.Count > 0)
        {
            var first = blocked[0];
            var codes = first.Findings.Where(f => f.Critical && !f.Accepted).Select(f => f.Code).Distinct().ToList();
            string holder = first.Findings.First(f => f.Critical && !f.Accepted).Holder;
            throw new HgsConfigurationException("keyStore",
                $"--production refuses to start: key {first.Label} ({first.Role}) has critical custody finding(s) {string.Join(", ", codes)} on {holder}"
                + (blocked.Count > 1 ? $" (and {blocked.Count - 1} more key(s) with critical findings)" : string.Empty)
                + $". Remove the object that should not be there, or rotate the key (docs/key-rotation.md); to use it anyway, accept each finding explicitly: {string.Join(" ", codes.Select(c => $"--accept-key-custody {first.Label}:{c}"))}.");
        }

        var used = entries.SelectMany(e => e.Findings.Where(f => f.Accepted).Select(f => (Entry: e, Finding: f))).ToList();
        foreach (var (entry, finding) in used)
        {
            LogAccepted(logger, entry.Label, entry.Role, finding.Code, finding.Holder, finding.Message);
        }

        foreach (var stale in gate.Accepted.Where(a => !used.Any(u => u.Entry.Label == a.Label && u.Finding.Code == a.Code)))
        {
            LogAcceptanceUnused(logger, stale.ToString());
        }

        if (used.Count > 0)
        {
            await database.InTransactionAsync(async s =>
            {
                AuditEntry? last = null;
                foreach (var (entry, finding) in used.DistinctBy(u => (u.Entry.Label, u.Finding.Code)))
                {
                    last = await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.KeyCustodyAccepted, AuditOutcomes.Success, entry.Label, finding.Code.ToString(),
                        ("role", entry.Role), ("holder", finding.Holder))).ConfigureAwait(false);
                }

                return last!;
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 2043, Level = LogLevel.Critical,
        Message = "Key {Label} ({Role}) is used although its custody check finds {Code} on {Holder} ({Message}): accepted by --accept-key-custody, audited as admin.keys.custody-accepted.")]
    private static partial void LogAccepted(ILogger logger, string label, string role, KeyCustodyFindingCode code, string holder, string message);

    [LoggerMessage(EventId = 2044, Level = LogLevel.Warning,
        Message = "--accept-key-custody {Acceptance} matches no finding now; it would accept that finding should it appear. Remove it once the key is rotated.")]
    private static partial void LogAcceptanceUnused(ILogger logger, string acceptance);
}
