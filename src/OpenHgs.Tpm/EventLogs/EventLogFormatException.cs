namespace OpenHgs.Tpm.EventLogs;

/// <summary>Why an event log could not be parsed.</summary>
public enum EventLogError
{
    /// <summary>The log is empty.</summary>
    Empty,
    /// <summary>The log is larger than <see cref="EventLogParser.MaxLogSize"/>.</summary>
    LogTooLarge,
    /// <summary>A structure extends past the end of the log.</summary>
    Truncated,
    /// <summary>An event declares a data size larger than the limit or the remaining bytes.</summary>
    EventTooLarge,
    /// <summary>The log holds more than <see cref="EventLogParser.MaxEvents"/> events.</summary>
    TooManyEvents,
    /// <summary>A PCR index is outside 0..<see cref="EventLogParser.MaxPcrIndex"/>.</summary>
    PcrIndexOutOfRange,
    /// <summary>The Spec ID event (first event of a crypto-agile log) is malformed.</summary>
    InvalidSpecIdEvent,
    /// <summary>A TPML_DIGEST_VALUES count is zero, too large or does not match the Spec ID banks.</summary>
    InvalidDigestCount,
    /// <summary>A digest uses an algorithm not declared in the Spec ID event.</summary>
    UnknownDigestAlgorithm,
    /// <summary>An algorithm appears twice in one event's digest list.</summary>
    DuplicateDigestAlgorithm,
    /// <summary>A Spec ID event appears after the first event.</summary>
    UnexpectedSpecIdEvent,
}

/// <summary>
/// Thrown by <see cref="EventLogParser.Parse"/> when the log is malformed. <see cref="Offset"/> is the byte
/// offset in the log at which the problem was detected; <see cref="Reason"/> names the problem.
/// </summary>
public sealed class EventLogFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public EventLogFormatException(EventLogError reason, long offset, string detail)
        : base($"Malformed TCG event log at offset {offset} (0x{offset:x}): {reason}: {detail}")
    {
        Reason = reason;
        Offset = offset;
    }

    /// <summary>The named reason.</summary>
    public EventLogError Reason { get; }

    /// <summary>Byte offset in the log where the problem was detected.</summary>
    public long Offset { get; }
}
