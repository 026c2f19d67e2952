using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Which PCRs and banks a TPM-mode quote covers for a given event log — the one rule host and service share: PCRs 0-7
/// (firmware, boot manager, Secure Boot) and every static PCR (≤ 15) the log extends, in every bank the log declares,
/// so every event a policy can read is covered by the signed quote in every bank the firmware extended.
/// </summary>
public static class AttestedPcrs
{
    private static readonly int[] AlwaysQuoted = [0, 1, 2, 3, 4, 5, 6, 7];

    /// <summary>The last static (non-DRTM, non-resettable by software) PCR considered.</summary>
    public const int LastStaticPcr = 15;

    /// <summary>
    /// Banks every quote must select (possibly empty after the TPM filtered out unallocated banks): the two hash
    /// algorithms the TCG PC Client Platform TPM Profile makes mandatory. Their signed selection shows the service
    /// whether the TPM has them active, so a host cannot hide an active bank the firmware extended and present a log
    /// for another bank that root filled in.
    /// </summary>
    public static IReadOnlyList<TpmAlgorithm> ProbedBanks { get; } = [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256];

    /// <summary>The PCR indices to quote for <paramref name="log"/> (the same in every bank).</summary>
    public static IReadOnlyList<int> Indices(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return AlwaysQuoted.Concat(log.Events.Where(e => e.IsExtended && e.Pcr <= LastStaticPcr).Select(e => e.Pcr)).Distinct().Order().ToList();
    }

    /// <summary>The selection of <see cref="Indices"/> in <paramref name="bank"/>.</summary>
    public static PcrSelection For(EventLog log, TpmAlgorithm bank) => PcrSelection.Create(bank, Indices(log));

    /// <summary>One selection of <see cref="Indices"/> per bank the log declares, in log order.</summary>
    public static IReadOnlyList<PcrSelection> ForEveryBank(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var indices = Indices(log);
        return log.Banks.Distinct().Select(b => PcrSelection.Create(b, indices)).ToList();
    }

    /// <summary>
    /// The bank policies and baselines read: SHA-256 when the log declares it, else SHA-1 (legacy or SHA-1-only firmware,
    /// accepted only where the admin allows it), else null (the service cannot attest the log).
    /// </summary>
    public static TpmAlgorithm? PolicyBank(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return PolicyBank(log.Banks);
    }

    /// <summary>The bank policies read among <paramref name="banks"/> (e.g. the banks a quote shows active): SHA-256, else SHA-1, else null.</summary>
    public static TpmAlgorithm? PolicyBank(IReadOnlyCollection<TpmAlgorithm> banks)
    {
        ArgumentNullException.ThrowIfNull(banks);
        return banks.Contains(TpmAlgorithm.Sha256) ? TpmAlgorithm.Sha256
            : banks.Contains(TpmAlgorithm.Sha1) ? TpmAlgorithm.Sha1
            : null;
    }

    /// <summary>
    /// The values of <paramref name="selection"/> (in its bank) as <paramref name="log"/> replays them (a PCR it never
    /// extends is zero). Throws <see cref="ArgumentException"/> when the log does not declare that bank or it cannot be
    /// hashed here: a bank that cannot be replayed is never taken as all zeros.
    /// </summary>
    public static Dictionary<int, byte[]> Replayed(EventLog log, PcrSelection selection)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(selection);
        if (!log.Banks.Contains(selection.Hash) || !log.Replay().TryGetValue(selection.Hash, out var bank))
        {
            throw new ArgumentException($"The log has no replayable {selection.Hash.Name()} bank.", nameof(selection));
        }

        return selection.Pcrs.ToDictionary(p => p, p => bank.TryGetValue(p, out var v) ? v : new byte[selection.Hash.DigestSize()]);
    }
}
