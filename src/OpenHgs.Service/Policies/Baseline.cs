using System.Globalization;
using System.Security.Cryptography;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Policies;

/// <summary>
/// A registered TPM baseline as the policies use it: the SHA-256 PCR values and Secure Boot configuration of a
/// reference host of one hardware class, derived from its event log (the document's PCR values must equal the replay).
/// </summary>
public sealed record Baseline(string Name, string HardwareClass, IReadOnlyDictionary<int, byte[]> Pcrs, SecureBootState SecureBoot, EventLog Log)
{
    /// <summary>Largest baseline event log accepted.</summary>
    public const int MaxEventLogBytes = 1024 * 1024;

    /// <summary>
    /// Derives a baseline from a document; throws <see cref="ServiceException"/> (BaselineInvalid) when the log does not
    /// parse, lacks a SHA-256 bank, or does not replay to the PCR values the document claims.
    /// </summary>
    public static Baseline FromDocument(string name, BaselineDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (document.Version != 1 || string.IsNullOrWhiteSpace(document.HardwareClass) || document.EventLog is null)
        {
            throw Invalid("expected a version 1 baseline document with a hardware class and an event log.");
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(document.EventLog);
        }
        catch (FormatException)
        {
            throw Invalid("eventLog is not valid base64.");
        }

        if (bytes.Length > MaxEventLogBytes)
        {
            throw Invalid($"the event log is larger than {MaxEventLogBytes} bytes.");
        }

        EventLog log;
        try
        {
            log = EventLogParser.Parse(bytes);
        }
        catch (EventLogFormatException ex)
        {
            throw Invalid("the event log does not parse: " + ex.Message);
        }

        if (!log.Banks.Contains(TpmAlgorithm.Sha256))
        {
            throw Invalid("the event log has no SHA-256 bank.");
        }

        var pcrs = AttestedPcrs.Replayed(log, AttestedPcrs.For(log));

        if (document.Pcrs is null || !document.Pcrs.TryGetValue("sha256", out var claimed) || claimed.Count == 0)
        {
            throw Invalid("the document has no SHA-256 PCR values.");
        }

        foreach (var (pcrText, hex) in claimed)
        {
            if (!int.TryParse(pcrText, NumberStyles.None, CultureInfo.InvariantCulture, out int pcr)
                || !pcrs.TryGetValue(pcr, out var value)
                || !string.Equals(Convert.ToHexStringLower(value), hex, StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid($"PCR {pcrText} in the document is not what the event log replays to.");
            }
        }

        return new Baseline(name, document.HardwareClass, pcrs, log.GetSecureBootState(), log);
    }

    /// <summary>True when the host's PCR <paramref name="pcr"/> equals this baseline's (both absent counts as equal).</summary>
    public bool SamePcr(IReadOnlyDictionary<int, byte[]> host, int pcr)
    {
        ArgumentNullException.ThrowIfNull(host);
        bool mine = Pcrs.TryGetValue(pcr, out var a);
        bool theirs = host.TryGetValue(pcr, out var b);
        return mine == theirs && (!mine || CryptographicOperations.FixedTimeEquals(a, b));
    }

    private static ServiceException Invalid(string message) => ServiceException.BadRequest("BaselineInvalid", "Baseline: " + message);
}
