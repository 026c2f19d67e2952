using System.Globalization;
using System.Security.Cryptography;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Policies;

/// <summary>
/// A registered TPM baseline as the policies use it: the PCR values (in every bank its log declares) and Secure Boot
/// configuration of a reference host of one hardware class, derived from its event log (the document's PCR values must
/// equal the replay). <see cref="Bank"/> is the bank policies read for this log (SHA-256, else SHA-1).
/// </summary>
public sealed record Baseline(
    string Name,
    string HardwareClass,
    TpmAlgorithm Bank,
    IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> PcrsByBank,
    SecureBootState SecureBoot,
    EventLog Log)
{
    /// <summary>The PCR values in <see cref="Bank"/>.</summary>
    public IReadOnlyDictionary<int, byte[]> Pcrs => PcrsByBank[Bank];

    /// <summary>Largest baseline event log accepted.</summary>
    public const int MaxEventLogBytes = 1024 * 1024;

    /// <summary>
    /// Derives a baseline from a document; throws <see cref="ServiceException"/> (BaselineInvalid) when the log does not
    /// parse, declares a bank that cannot be replayed here or neither SHA-256 nor SHA-1, lacks the values of the bank policies
    /// read, or does not replay to the PCR values the document claims (in every bank it gives).
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

        var unsupported = log.Banks.Where(b => !b.CanHash()).Select(b => b.Name()).ToList();
        if (unsupported.Count > 0)
        {
            throw Invalid($"the event log declares the {string.Join(",", unsupported)} bank(s), which this service cannot replay.");
        }

        if (AttestedPcrs.PolicyBank(log) is not { } bank)
        {
            throw Invalid("the event log declares neither a SHA-256 nor a SHA-1 bank.");
        }

        var replayed = AttestedPcrs.ForEveryBank(log)
            .ToDictionary(s => s.Hash, s => (IReadOnlyDictionary<int, byte[]>)AttestedPcrs.Replayed(log, s));
        if (document.Pcrs is null || !document.Pcrs.TryGetValue(bank.Name(), out var policyValues) || policyValues.Count == 0)
        {
            throw Invalid($"the document has no {bank.Name()} PCR values.");
        }

        foreach (var (bankName, claimed) in document.Pcrs)
        {
            if (!TpmAlgorithms.TryParseName(bankName, out var claimedBank) || !replayed.TryGetValue(claimedBank, out var pcrs))
            {
                throw Invalid($"the document gives {bankName} PCR values, a bank the event log does not declare.");
            }

            foreach (var (pcrText, hex) in claimed)
            {
                if (!int.TryParse(pcrText, NumberStyles.None, CultureInfo.InvariantCulture, out int pcr)
                    || !pcrs.TryGetValue(pcr, out var value)
                    || !string.Equals(Convert.ToHexStringLower(value), hex, StringComparison.OrdinalIgnoreCase))
                {
                    throw Invalid($"{bankName} PCR {pcrText} in the document is not what the event log replays to.");
                }
            }
        }

        return new Baseline(name, document.HardwareClass, bank, replayed, log.GetSecureBootState(), log);
    }

    /// <summary>
    /// True when the host's PCR <paramref name="pcr"/> in <paramref name="bank"/> equals this baseline's (both absent counts
    /// as equal); false when this baseline's log has no such bank.
    /// </summary>
    public bool SamePcr(TpmAlgorithm bank, IReadOnlyDictionary<int, byte[]> host, int pcr)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (!PcrsByBank.TryGetValue(bank, out var pcrs))
        {
            return false;
        }

        bool mine = pcrs.TryGetValue(pcr, out var a);
        bool theirs = host.TryGetValue(pcr, out var b);
        return mine == theirs && (!mine || CryptographicOperations.FixedTimeEquals(a, b));
    }

    private static ServiceException Invalid(string message) => ServiceException.BadRequest("BaselineInvalid", "Baseline: " + message);
}
