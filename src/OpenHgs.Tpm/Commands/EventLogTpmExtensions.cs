using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Tpm.Commands;

/// <summary>
/// Replays a measured-boot event log into a (software) TPM's PCRs, so a test harness or a lab can reproduce a
/// real machine's boot state in swtpm and then quote it. Never use against a production TPM's boot PCRs.
/// </summary>
public static class EventLogTpmExtensions
{
    /// <summary>
    /// Extends, for every extended event in log order, its digests for <paramref name="banks"/> into its PCR.
    /// The PCRs must start at their reset value (a fresh TPM). Logs whose StartupLocality is not 0 cannot be
    /// reproduced by TPM2_PCR_Extend and are refused with <see cref="NotSupportedException"/>.
    /// </summary>
    /// <returns>The number of events extended.</returns>
    public static int ExtendEventLog(this TpmClient tpm, EventLog log, IReadOnlyCollection<TpmAlgorithm> banks)
    {
        ArgumentNullException.ThrowIfNull(tpm);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(banks);
        if (log.Events.Any(e => e.Details is StartupLocalityEventDetails { Locality: not 0 }))
        {
            throw new NotSupportedException("The log starts PCR 0 at a non-zero locality, which PCR_Extend cannot reproduce.");
        }
        var missing = banks.Where(b => !log.Banks.Contains(b)).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException($"The log has no {string.Join(", ", missing.Select(b => b.Name()))} digests.", nameof(banks));
        }
        var count = 0;
        foreach (var e in log.Events.Where(e => e.IsExtended))
        {
            tpm.PcrExtend(e.Pcr, banks.ToDictionary(b => b, b => e.Digests[b]));
            count++;
        }
        return count;
    }
}
