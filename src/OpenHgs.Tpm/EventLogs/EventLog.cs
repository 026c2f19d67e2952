namespace OpenHgs.Tpm.EventLogs;

/// <summary>The two TCG event-log encodings.</summary>
public enum EventLogFormat
{
    /// <summary>TCG 1.2 style: every event a TCG_PCR_EVENT with one SHA-1 digest.</summary>
    Sha1Legacy,
    /// <summary>TCG 2.0 crypto-agile: a Spec ID header event, then TCG_PCR_EVENT2 with TPML_DIGEST_VALUES.</summary>
    CryptoAgile,
}

/// <summary>
/// A parsed TCG PC Client event log. Immutable; produced by <see cref="EventLogParser.Parse"/>.
/// </summary>
public sealed class EventLog
{
    internal EventLog(EventLogFormat format, IReadOnlyList<TcgEvent> events, IReadOnlyList<TpmAlgorithm> banks,
        SpecIdEventDetails? specId)
    {
        Format = format;
        Events = events;
        Banks = banks;
        SpecId = specId;
        _replay = new(() => PcrReplay.Replay(this));
    }

    // The log is immutable, so its replay is computed once: an attestation reads it for every bank it checks.
    private readonly Lazy<IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>>> _replay;

    /// <summary>Encoding of the log.</summary>
    public EventLogFormat Format { get; }

    /// <summary>All events in log order, including EV_NO_ACTION events (and the Spec ID header).</summary>
    public IReadOnlyList<TcgEvent> Events { get; }

    /// <summary>Banks the log carries digests for (SHA-1 for legacy logs; the Spec ID list otherwise), in log order.</summary>
    public IReadOnlyList<TpmAlgorithm> Banks { get; }

    /// <summary>The decoded Spec ID event of a crypto-agile log; null for a legacy log.</summary>
    public SpecIdEventDetails? SpecId { get; }

    /// <summary>
    /// Replays the log: each PCR starts at zero (PCR 0 at 0…0N when a StartupLocality event says locality N)
    /// and is extended with every non-EV_NO_ACTION event's digest. Returns, for every bank the process can hash,
    /// the final value of every PCR the log extends. Banks that cannot be hashed here (SM3) are omitted.
    /// </summary>
    /// <remarks>Computed once per log; the PCR values are shared, so callers must not change them.</remarks>
    public IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> Replay() => _replay.Value;

    /// <summary>The Secure Boot configuration this log records (PCR 7).</summary>
    public SecureBootState GetSecureBootState() => SecureBootState.FromLog(this);
}
