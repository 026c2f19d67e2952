using System.Buffers.Binary;
using System.Text;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>Raised inside the best-effort decoders when event data is malformed; never escapes them.</summary>
internal sealed class MalformedEventDataException() : Exception("malformed event data");

/// <summary>Bounds-checked little-endian cursor over one event's data; throws <see cref="MalformedEventDataException"/>.</summary>
internal ref struct DataCursor(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _offset;

    public readonly int Remaining => _data.Length - _offset;

    public ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new MalformedEventDataException();
        }
        var span = _data.Slice(_offset, (int)count);
        _offset += (int)count;
        return span;
    }

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public Guid Guid() => new(Take(16));

    /// <summary>Reads <paramref name="chars"/> UTF-16LE code units, trimming at the first NUL.</summary>
    public string Utf16(long chars)
    {
        if (chars < 0 || chars > Remaining / 2)
        {
            throw new MalformedEventDataException();
        }
        return Utf16Text(Take(chars * 2));
    }

    public static string Utf16Text(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.Unicode.GetString(bytes[..(bytes.Length & ~1)]);
        var nul = text.IndexOf('\0', StringComparison.Ordinal);
        return nul >= 0 ? text[..nul] : text;
    }
}
