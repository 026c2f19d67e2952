using System.Globalization;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Client.Tpm;

/// <summary>
/// Captures a reference host's measurements (HGS Get-HgsAttestationBaselinePolicy): its event log, the PCR values it
/// replays to in every bank it declares and its Secure Boot state. Every bank the TPM has active must be one the log
/// declares and replay to the TPM's own PCRs, so a baseline never records a log that does not describe the boot it was
/// taken on.
/// </summary>
public static class BaselineCapture
{
    /// <summary>Captures the baseline of the boot <paramref name="agent"/>'s TPM measured; refuses a log that does not replay to its PCRs.</summary>
    public static BaselineDocument Capture(TpmHostAgent agent, byte[] eventLog, string hardwareClass, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(agent);
        var (document, log) = Describe(eventLog, hardwareClass, now);
        var active = agent.ActiveBanks();
        if (active.Any(b => !log.Banks.Contains(b)))
        {
            throw new HgsClientException("EventLogBanksMismatch",
                $"This TPM has the {Names(active)} bank(s) active but the event log declares {Names(log.Banks)}; the service would refuse its attestation.");
        }

        foreach (var selection in AttestedPcrs.ForEveryBank(log).Where(s => active.Contains(s.Hash)))
        {
            var replayed = Replayed(log, selection);
            var actual = agent.ReadPcrs(selection.Hash, selection.Pcrs);
            var differing = selection.Pcrs.Where(p => !actual.TryGetValue(p, out var v) || !v.AsSpan().SequenceEqual(replayed[p])).ToList();
            if (differing.Count > 0)
            {
                throw new HgsClientException("EventLogMismatch",
                    $"The event log does not replay to this TPM's {selection.Hash.Name()} PCR {string.Join(",", differing)}; it does not describe this boot.");
            }
        }

        return document;
    }

    /// <summary>
    /// Describes a log as a baseline without reading a TPM (labs and tests: the log of a reference machine captured
    /// elsewhere): the replayed PCRs of every bank the log declares. The service still checks that the document's PCR
    /// values are the log's replay.
    /// </summary>
    public static (BaselineDocument Document, EventLog Log) Describe(byte[] eventLog, string hardwareClass, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(eventLog);
        ArgumentException.ThrowIfNullOrWhiteSpace(hardwareClass);
        EventLog log;
        try
        {
            log = EventLogParser.Parse(eventLog);
        }
        catch (EventLogFormatException ex)
        {
            throw new HgsClientException("EventLogInvalid", "The event log does not parse: " + ex.Message);
        }

        var pcrs = new Dictionary<string, IReadOnlyDictionary<string, string>>();
        foreach (var selection in AttestedPcrs.ForEveryBank(log))
        {
            pcrs[selection.Hash.Name()] = Replayed(log, selection)
                .ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => Convert.ToHexStringLower(p.Value));
        }

        return (new BaselineDocument(1, hardwareClass, now, Convert.ToBase64String(eventLog), pcrs, log.GetSecureBootState().Enabled), log);
    }

    private static Dictionary<int, byte[]> Replayed(EventLog log, OpenHgs.Tpm.Structures.PcrSelection selection)
    {
        try
        {
            return AttestedPcrs.Replayed(log, selection);
        }
        catch (ArgumentException)
        {
            throw new HgsClientException("EventLogBankUnsupported", $"The event log's {selection.Hash.Name()} bank cannot be replayed here.");
        }
    }

    private static string Names(IEnumerable<TpmAlgorithm> banks) => string.Join(",", banks.Distinct().Select(b => b.Name()));
}
