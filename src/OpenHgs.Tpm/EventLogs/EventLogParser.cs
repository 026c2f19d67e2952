namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Parses TCG PC Client event logs (e.g. /sys/kernel/security/tpm0/binary_bios_measurements) in both the
/// SHA-1 legacy format (TCG_PCR_EVENT) and the crypto-agile format (Spec ID Event03 header, then TCG_PCR_EVENT2).
/// </summary>
/// <remarks>
/// Contract: <see cref="Parse"/> either returns a complete <see cref="EventLog"/> covering every byte of the
/// input, or throws <see cref="EventLogFormatException"/> naming the reason and offset. No other exception type
/// escapes, and the work is linear in the input size (every loop is bounded by the input or a fixed limit).
/// Event data is decoded best-effort into <see cref="TcgEvent.Details"/>; undecodable data is kept raw.
/// </remarks>
public static class EventLogParser
{
    /// <summary>Largest accepted log (64 MiB; real logs are tens of KiB).</summary>
    public const int MaxLogSize = 64 * 1024 * 1024;

    /// <summary>Largest accepted event data (16 MiB).</summary>
    public const int MaxEventDataSize = 16 * 1024 * 1024;

    /// <summary>Most events accepted in one log.</summary>
    public const int MaxEvents = 200_000;

    /// <summary>Highest accepted PCR index.</summary>
    public const int MaxPcrIndex = 31;

    /// <summary>Most banks a Spec ID event may declare.</summary>
    public const int MaxBanks = 16;

    /// <summary>The PCR index (0xFFFFFFFF, i.e. -1) Windows logs give EV_NO_ACTION events that belong to no PCR.</summary>
    private const uint NoPcrIndex = uint.MaxValue;

    private const int Sha1DigestSize = 20;
    private static readonly byte[] SpecIdSignature = "Spec ID Event03\0"u8.ToArray();

    /// <summary>Parses a whole event log.</summary>
    /// <exception cref="EventLogFormatException">The log is empty, too large or malformed.</exception>
    public static EventLog Parse(ReadOnlySpan<byte> log)
    {
        if (log.IsEmpty)
        {
            throw new EventLogFormatException(EventLogError.Empty, 0, "the event log is empty");
        }
        if (log.Length > MaxLogSize)
        {
            throw new EventLogFormatException(EventLogError.LogTooLarge, 0,
                $"the event log is {log.Length} bytes, more than the {MaxLogSize} accepted");
        }

        var reader = new EventLogReader(log);
        var first = ReadLegacyEvent(ref reader, 0);
        var events = new List<TcgEvent>();

        if (IsSpecIdEvent(first))
        {
            var specId = SpecIdDecoder.Decode(first.Data, first.Offset + 32);
            var banks = specId.Algorithms.Select(a => a.Algorithm).ToArray();
            events.Add(first with { Details = specId });
            var context = new DecodeContext(specId.UintnSize == 1 ? 4 : 8);
            while (reader.Remaining > 0)
            {
                CheckEventCount(events.Count, reader.Offset);
                events.Add(ReadAgileEvent(ref reader, events.Count, specId, context));
            }
            return new EventLog(EventLogFormat.CryptoAgile, events, banks, specId);
        }

        var legacyContext = new DecodeContext(8);
        events.Add(first with { Details = EventDetailsDecoder.Decode(first.Type, first.Data, legacyContext) });
        while (reader.Remaining > 0)
        {
            CheckEventCount(events.Count, reader.Offset);
            var e = ReadLegacyEvent(ref reader, events.Count);
            events.Add(e with { Details = EventDetailsDecoder.Decode(e.Type, e.Data, legacyContext) });
        }
        return new EventLog(EventLogFormat.Sha1Legacy, events, [TpmAlgorithm.Sha1], null);
    }

    private static void CheckEventCount(int count, int offset)
    {
        if (count >= MaxEvents)
        {
            throw new EventLogFormatException(EventLogError.TooManyEvents, offset,
                $"more than {MaxEvents} events");
        }
    }

    private static bool IsSpecIdEvent(TcgEvent e) =>
        e.Pcr == 0 && e.Type == TcgEventType.NoAction && e.Data.AsSpan().StartsWith(SpecIdSignature);

    /// <summary>Reads a TCG_PCR_EVENT: pcrIndex, eventType, SHA-1 digest, eventSize, event.</summary>
    private static TcgEvent ReadLegacyEvent(ref EventLogReader reader, int index)
    {
        var start = reader.Offset;
        var (pcr, type) = ReadPcrAndType(ref reader);
        var digest = reader.Take(Sha1DigestSize, "SHA-1 digest").ToArray();
        var data = ReadEventData(ref reader);
        return new TcgEvent(index, pcr, type, new Dictionary<TpmAlgorithm, byte[]> { [TpmAlgorithm.Sha1] = digest },
            data, null)
        {
            Offset = start,
            Size = reader.Offset - start,
        };
    }

    /// <summary>Reads a TCG_PCR_EVENT2: pcrIndex, eventType, TPML_DIGEST_VALUES, eventSize, event.</summary>
    private static TcgEvent ReadAgileEvent(ref EventLogReader reader, int index, SpecIdEventDetails specId,
        DecodeContext context)
    {
        var start = reader.Offset;
        var (pcr, type) = ReadPcrAndType(ref reader);
        var countOffset = reader.Offset;
        var count = reader.ReadUInt32("digest count");
        if (count == 0 || count != specId.Algorithms.Count)
        {
            throw new EventLogFormatException(EventLogError.InvalidDigestCount, countOffset,
                $"event {index} has {count} digests; the Spec ID event declares {specId.Algorithms.Count} banks");
        }

        var digests = new Dictionary<TpmAlgorithm, byte[]>((int)count);
        for (var i = 0; i < count; i++)
        {
            var algOffset = reader.Offset;
            var alg = (TpmAlgorithm)reader.ReadUInt16("digest algorithm");
            var size = -1;
            foreach (var declared in specId.Algorithms)
            {
                if (declared.Algorithm == alg)
                {
                    size = declared.DigestSize;
                    break;
                }
            }
            if (size < 0)
            {
                throw new EventLogFormatException(EventLogError.UnknownDigestAlgorithm, algOffset,
                    $"event {index} has a digest of algorithm 0x{(ushort)alg:x4}, not declared in the Spec ID event");
            }
            if (digests.ContainsKey(alg))
            {
                throw new EventLogFormatException(EventLogError.DuplicateDigestAlgorithm, algOffset,
                    $"event {index} has two {alg.Name()} digests");
            }
            digests[alg] = reader.Take(size, $"{alg.Name()} digest").ToArray();
        }

        var data = ReadEventData(ref reader);
        if (type == TcgEventType.NoAction && data.AsSpan().StartsWith(SpecIdSignature))
        {
            throw new EventLogFormatException(EventLogError.UnexpectedSpecIdEvent, start,
                $"event {index} is a second Spec ID event");
        }

        return new TcgEvent(index, pcr, type, digests, data, EventDetailsDecoder.Decode(type, data, context))
        {
            Offset = start,
            Size = reader.Offset - start,
        };
    }

    /// <summary>
    /// Reads the PCR index and event type. PCR 0xFFFFFFFF is accepted only on EV_NO_ACTION (Windows measured-boot
    /// logs tag e.g. the AIK and trust points that way) and becomes <see cref="TcgEvent.NoPcr"/>; an event that
    /// would be extended must name a real PCR.
    /// </summary>
    private static (int Pcr, TcgEventType Type) ReadPcrAndType(ref EventLogReader reader)
    {
        var offset = reader.Offset;
        var pcr = reader.ReadUInt32("PCR index");
        var type = (TcgEventType)reader.ReadUInt32("event type");
        if (pcr == NoPcrIndex && type == TcgEventType.NoAction)
        {
            return (TcgEvent.NoPcr, type);
        }
        if (pcr > MaxPcrIndex)
        {
            throw new EventLogFormatException(EventLogError.PcrIndexOutOfRange, offset,
                $"PCR index {pcr} is above {MaxPcrIndex}" +
                (pcr == NoPcrIndex ? $" (0x{NoPcrIndex:X8} is accepted only on EV_NO_ACTION)" : string.Empty));
        }
        return ((int)pcr, type);
    }

    private static byte[] ReadEventData(ref EventLogReader reader)
    {
        var offset = reader.Offset;
        var size = reader.ReadUInt32("event data size");
        if (size > MaxEventDataSize || size > reader.Remaining)
        {
            throw new EventLogFormatException(EventLogError.EventTooLarge, offset,
                $"event data size {size} exceeds the {Math.Min(MaxEventDataSize, reader.Remaining)} bytes available");
        }
        return reader.Take((int)size, "event data").ToArray();
    }
}

/// <summary>Decodes the Spec ID Event03 structure (TCG_EfiSpecIDEvent).</summary>
internal static class SpecIdDecoder
{
    /// <summary>Decodes; <paramref name="baseOffset"/> is the absolute offset of the event data (for errors).</summary>
    public static SpecIdEventDetails Decode(byte[] data, int baseOffset)
    {
        var reader = new EventLogReader(data);
        try
        {
            reader.Take(16, "Spec ID signature");
            var platformClass = reader.ReadUInt32("platform class");
            var minor = reader.ReadByte("spec version minor");
            var major = reader.ReadByte("spec version major");
            var errata = reader.ReadByte("spec errata");
            var uintnSize = reader.ReadByte("uintn size");
            var countOffset = reader.Offset;
            var count = reader.ReadUInt32("number of algorithms");
            if (count == 0 || count > EventLogParser.MaxBanks)
            {
                throw Invalid(baseOffset + countOffset, $"{count} algorithms declared (1..{EventLogParser.MaxBanks} accepted)");
            }

            var algorithms = new List<SpecIdAlgorithm>((int)count);
            for (var i = 0; i < count; i++)
            {
                var entryOffset = reader.Offset;
                var alg = (TpmAlgorithm)reader.ReadUInt16("algorithm id");
                var size = reader.ReadUInt16("digest size");
                var known = alg.DigestSize();
                if (size == 0 || size > 64 || (known != 0 && known != size))
                {
                    throw Invalid(baseOffset + entryOffset, $"algorithm 0x{(ushort)alg:x4} declares digest size {size}");
                }
                if (algorithms.Any(a => a.Algorithm == alg))
                {
                    throw Invalid(baseOffset + entryOffset, $"algorithm {alg.Name()} declared twice");
                }
                algorithms.Add(new SpecIdAlgorithm(alg, size));
            }

            var vendorSize = reader.ReadByte("vendor info size");
            var vendor = reader.Take(vendorSize, "vendor info").ToArray();
            return new SpecIdEventDetails(platformClass, $"{major}.{minor}.{errata}", uintnSize, algorithms, vendor);
        }
        catch (EventLogFormatException e) when (e.Reason == EventLogError.Truncated)
        {
            throw Invalid(baseOffset + e.Offset, "the Spec ID event is truncated");
        }
    }

    private static EventLogFormatException Invalid(long offset, string detail) =>
        new(EventLogError.InvalidSpecIdEvent, offset, detail);
}

/// <summary>Parsing context for event-data decoding.</summary>
/// <param name="PointerSize">Size of UINTN/pointers in firmware structures (4 or 8).</param>
internal sealed record DecodeContext(int PointerSize);
