using System.Globalization;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Client.Tpm;

/// <summary>
/// Captures a reference host's measurements (HGS Get-HgsAttestationBaselinePolicy): its event log, the PCR values it
/// replays to and its Secure Boot state. The replay must equal the TPM's own SHA-256 PCRs, so a baseline never
/// records a log that does not describe the boot it was taken on.
/// </summary>
public static class BaselineCapture
{
    /// <summary>Captures the baseline of the boot <paramref name="agent"/>'s TPM measured; refuses a log that does not replay to its PCRs.</summary>
    public static BaselineDocument Capture(TpmHostAgent agent, byte[] eventLog, string hardwareClass, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(agent);
        var (document, log) = Describe(eventLog, hardwareClass, now);
        var selection = AttestedPcrs.For(log);
        var replayed = AttestedPcrs.Replayed(log, selection);
        var actual = agent.ReadPcrs(TpmAlgorithm.Sha256, selection.Pcrs);
        var differing = selection.Pcrs.Where(p => !actual.TryGetValue(p, out var v) || !v.AsSpan().SequenceEqual(replayed[p])).ToList();
        return differing.Count == 0
            ? document
            : throw new HgsClientException("EventLogMismatch", $"The event log does not replay to this TPM's SHA-256 PCR {string.Join(",", differing)}; it does not describe this boot.");
    }

    /// <summary>
    /// Describes a log as a baseline without reading a TPM (labs and tests: the log of a reference machine captured
    /// elsewhere). The service still checks that the document's PCR values are the log's replay.
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

        var replayed = AttestedPcrs.Replayed(log, AttestedPcrs.For(log));
        var pcrs = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["sha256"] = replayed.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => Convert.ToHexStringLower(p.Value)),
        };
        return (new BaselineDocument(1, hardwareClass, now, Convert.ToBase64String(eventLog), pcrs, log.GetSecureBootState().Enabled), log);
    }
}
