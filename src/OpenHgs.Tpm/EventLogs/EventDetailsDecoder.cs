using System.Text;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Best-effort decoding of event data into <see cref="EventDetails"/>. Never throws: malformed or unknown data
/// yields null. Every structure is bounds-checked and every count limited by the data length.
/// </summary>
internal static class EventDetailsDecoder
{
    private const int MaxDevicePathNodes = 256;
    private const int MaxGptPartitions = 1024;

    public static EventDetails? Decode(TcgEventType type, byte[] data, DecodeContext context)
    {
        try
        {
            return type switch
            {
                TcgEventType.NoAction => DecodeNoAction(data),
                TcgEventType.Separator => data.Length == 4 ? new SeparatorEventDetails(new DataCursor(data).U32()) : null,
                TcgEventType.EfiVariableDriverConfig or TcgEventType.EfiVariableBoot or TcgEventType.EfiVariableBoot2
                    or TcgEventType.EfiVariableAuthority => DecodeVariable(data),
                TcgEventType.EfiBootServicesApplication or TcgEventType.EfiBootServicesDriver
                    or TcgEventType.EfiRuntimeServicesDriver => DecodeImageLoad(data),
                TcgEventType.EfiPlatformFirmwareBlob => DecodeBlob(data),
                TcgEventType.EfiPlatformFirmwareBlob2 => DecodeBlob2(data),
                TcgEventType.EfiHandoffTables => DecodeHandoffTables(data, context),
                TcgEventType.EfiGptEvent => DecodeGpt(data),
                TcgEventType.PostCode => (EventDetails?)DecodeText(data) ?? DecodeBlob(data),
                TcgEventType.Ipl or TcgEventType.EfiAction or TcgEventType.Action or TcgEventType.SCrtmVersion
                    or TcgEventType.EventTag or TcgEventType.CompactHash or TcgEventType.PlatformConfigFlags
                    or TcgEventType.OmitBootDeviceEvents or TcgEventType.NonhostInfo or TcgEventType.PostCode2
                    or TcgEventType.EfiHcrtmEvent => DecodeText(data),
                _ => null,
            };
        }
        catch (MalformedEventDataException)
        {
            return null;
        }
    }

    /// <summary>
    /// Text heuristics: UTF-16LE when every odd byte is zero; otherwise UTF-8/ASCII when the bytes decode
    /// to printable text. Trailing NULs are trimmed. Returns null for binary data.
    /// </summary>
    internal static TextEventDetails? DecodeText(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return new TextEventDetails(string.Empty, "ascii");
        }
        if (data.Length >= 4 && data.Length % 2 == 0 && LooksUtf16(data))
        {
            var text16 = DataCursor.Utf16Text(data);
            return IsPrintable(text16) ? new TextEventDetails(text16, "utf-16le") : null;
        }

        var trimmed = data;
        while (!trimmed.IsEmpty && trimmed[^1] == 0)
        {
            trimmed = trimmed[..^1];
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(trimmed);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
        if (!IsPrintable(text))
        {
            return null;
        }
        var ascii = true;
        foreach (var b in trimmed)
        {
            ascii &= b < 0x80;
        }
        return new TextEventDetails(text, ascii ? "ascii" : "utf-8");
    }

    private static bool LooksUtf16(ReadOnlySpan<byte> data)
    {
        for (var i = 1; i < data.Length; i += 2)
        {
            if (data[i] != 0)
            {
                return false;
            }
        }
        return data[0] != 0;
    }

    private static bool IsPrintable(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c) && c is not ('\n' or '\r' or '\t'))
            {
                return false;
            }
        }
        return true;
    }

    private static EventDetails? DecodeNoAction(byte[] data)
    {
        var span = data.AsSpan();
        if (span.StartsWith("StartupLocality\0"u8))
        {
            return span.Length == 17 ? new StartupLocalityEventDetails(span[16]) : null;
        }
        if (span.Length >= 16)
        {
            var signature = span[..16];
            var nul = signature.IndexOf((byte)0);
            var text = DecodeText(nul >= 0 ? signature[..nul] : signature);
            if (text is not null && text.Text.Length > 0)
            {
                return new NoActionEventDetails(text.Text);
            }
        }
        return null;
    }

    /// <summary>UEFI_VARIABLE_DATA: GUID, UINT64 name length (chars), UINT64 data length, name, data.</summary>
    internal static UefiVariableDetails DecodeVariable(ReadOnlySpan<byte> data)
    {
        var cursor = new DataCursor(data);
        var guid = cursor.Guid();
        var nameLength = cursor.U64();
        var dataLength = cursor.U64();
        if (nameLength > (ulong)cursor.Remaining / 2)
        {
            throw new MalformedEventDataException();
        }
        var name = cursor.Utf16((long)nameLength);
        if (dataLength > (ulong)cursor.Remaining)
        {
            throw new MalformedEventDataException();
        }
        var value = cursor.Take((long)dataLength).ToArray();
        return new UefiVariableDetails(guid, name, value);
    }

    /// <summary>UEFI_IMAGE_LOAD_EVENT: location, length, link-time address, device-path length, device path.</summary>
    private static ImageLoadEventDetails DecodeImageLoad(ReadOnlySpan<byte> data)
    {
        var cursor = new DataCursor(data);
        var location = cursor.U64();
        var length = cursor.U64();
        var link = cursor.U64();
        var pathLength = cursor.U64();
        if (pathLength > (ulong)cursor.Remaining)
        {
            throw new MalformedEventDataException();
        }
        var path = DevicePathRenderer.Render(cursor.Take((long)pathLength), MaxDevicePathNodes);
        return new ImageLoadEventDetails(location, length, link, path);
    }

    private static FirmwareBlobEventDetails? DecodeBlob(ReadOnlySpan<byte> data)
    {
        if (data.Length != 16)
        {
            return null;
        }
        var cursor = new DataCursor(data);
        return new FirmwareBlobEventDetails(cursor.U64(), cursor.U64());
    }

    private static FirmwareBlob2EventDetails DecodeBlob2(ReadOnlySpan<byte> data)
    {
        var cursor = new DataCursor(data);
        var descriptionSize = cursor.U8();
        var description = DecodeText(cursor.Take(descriptionSize))?.Text ?? string.Empty;
        return new FirmwareBlob2EventDetails(description, cursor.U64(), cursor.U64());
    }

    /// <summary>UEFI_HANDOFF_TABLE_POINTERS: UINT64 count, then (GUID, pointer) pairs.</summary>
    private static HandoffTablesEventDetails DecodeHandoffTables(ReadOnlySpan<byte> data, DecodeContext context)
    {
        var cursor = new DataCursor(data);
        var count = cursor.U64();
        var entrySize = 16 + context.PointerSize;
        if (count > (ulong)(cursor.Remaining / entrySize))
        {
            throw new MalformedEventDataException();
        }
        var tables = new List<Guid>((int)count);
        for (var i = 0UL; i < count; i++)
        {
            tables.Add(cursor.Guid());
            cursor.Take(context.PointerSize);
        }
        return new HandoffTablesEventDetails(tables);
    }

    /// <summary>UEFI_GPT_DATA: the 92-byte GPT header, UINT64 partition count, then the partition entries.</summary>
    private static GptEventDetails DecodeGpt(ReadOnlySpan<byte> data)
    {
        var cursor = new DataCursor(data);
        var header = cursor.Take(92);
        if (!header[..8].SequenceEqual("EFI PART"u8))
        {
            throw new MalformedEventDataException();
        }
        var diskGuid = new Guid(header.Slice(56, 16));
        var entrySize = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header.Slice(84, 4));
        var count = cursor.U64();
        if (entrySize < 128 || entrySize > 4096 || count > MaxGptPartitions || count > (ulong)(cursor.Remaining / entrySize))
        {
            throw new MalformedEventDataException();
        }
        var partitions = new List<GptPartition>((int)count);
        for (var i = 0UL; i < count; i++)
        {
            var entry = new DataCursor(cursor.Take(entrySize));
            partitions.Add(new GptPartition(entry.Guid(), entry.Guid(), entry.U64(), entry.U64(),
                SkipAndReadName(ref entry)));
        }
        return new GptEventDetails(diskGuid, partitions);
    }

    private static string SkipAndReadName(ref DataCursor entry)
    {
        entry.U64(); // attributes
        return entry.Utf16(36);
    }
}
