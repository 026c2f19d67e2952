namespace OpenHgs.Tpm.EventLogs;

/// <summary>Replays an event log into the PCR values a TPM would hold after the measured boot.</summary>
internal static class PcrReplay
{
    /// <summary>See <see cref="EventLog.Replay"/>.</summary>
    public static IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> Replay(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var locality = StartupLocality(log);
        var result = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>>();
        foreach (var bank in log.Banks)
        {
            if (!bank.CanHash())
            {
                continue;
            }
            var size = bank.DigestSize();
            var pcrs = new SortedDictionary<int, byte[]>();
            foreach (var e in log.Events)
            {
                if (!e.IsExtended || !e.Digests.TryGetValue(bank, out var digest))
                {
                    continue;
                }
                if (!pcrs.TryGetValue(e.Pcr, out var current))
                {
                    current = new byte[size];
                    if (e.Pcr == 0 && locality is { } l)
                    {
                        current[^1] = l;
                    }
                }
                pcrs[e.Pcr] = bank.Hash(current, digest);
            }
            result[bank] = pcrs;
        }
        return result;
    }

    /// <summary>The locality of the first StartupLocality EV_NO_ACTION event in PCR 0, if any.</summary>
    internal static byte? StartupLocality(EventLog log)
    {
        foreach (var e in log.Events)
        {
            if (e is { Pcr: 0, Type: TcgEventType.NoAction, Details: StartupLocalityEventDetails s })
            {
                return s.Locality;
            }
        }
        return null;
    }
}
