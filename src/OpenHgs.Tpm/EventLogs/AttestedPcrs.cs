using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Which PCRs a TPM-mode quote covers for a given event log — the one rule host and service share: SHA-256 PCRs 0-7
/// (firmware, boot manager, Secure Boot) and every static PCR (≤ 15) the log extends, so every event a policy can
/// read is covered by the signed quote.
/// </summary>
public static class AttestedPcrs
{
    private static readonly int[] AlwaysQuoted = [0, 1, 2, 3, 4, 5, 6, 7];

    /// <summary>The last static (non-DRTM, non-resettable by software) PCR considered.</summary>
    public const int LastStaticPcr = 15;

    /// <summary>The selection to quote for <paramref name="log"/>.</summary>
    public static PcrSelection For(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return PcrSelection.Create(TpmAlgorithm.Sha256,
            AlwaysQuoted.Concat(log.Events.Where(e => e.IsExtended && e.Pcr <= LastStaticPcr).Select(e => e.Pcr)));
    }

    /// <summary>The SHA-256 values of <paramref name="selection"/> as <paramref name="log"/> replays them (a PCR it never extends is zero).</summary>
    public static Dictionary<int, byte[]> Replayed(EventLog log, PcrSelection selection)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(selection);
        var replay = log.Replay().TryGetValue(TpmAlgorithm.Sha256, out var bank) ? bank : new Dictionary<int, byte[]>();
        return selection.Pcrs.ToDictionary(p => p, p => replay.TryGetValue(p, out var v) ? v : new byte[TpmAlgorithm.Sha256.DigestSize()]);
    }
}
