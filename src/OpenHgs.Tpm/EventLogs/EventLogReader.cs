using System.Buffers.Binary;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Bounds-checked little-endian cursor over an event log. Every read past the end throws
/// <see cref="EventLogFormatException"/> with <see cref="EventLogError.Truncated"/> and the absolute offset.
/// </summary>
internal ref struct EventLogReader
{
    private readonly ReadOnlySpan<byte> _data;

    public EventLogReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        Offset = 0;
    }

    /// <summary>Current absolute offset.</summary>
    public int Offset { get; private set; }

    /// <summary>Bytes left.</summary>
    public readonly int Remaining => _data.Length - Offset;

    public uint ReadUInt32(string what)
    {
        var span = Take(4, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(span);
    }

    public ushort ReadUInt16(string what)
    {
        var span = Take(2, what);
        return BinaryPrimitives.ReadUInt16LittleEndian(span);
    }

    public byte ReadByte(string what) => Take(1, what)[0];

    public ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count < 0 || count > Remaining)
        {
            throw new EventLogFormatException(EventLogError.Truncated, Offset,
                $"{what} needs {count} bytes but only {Remaining} remain");
        }
        var span = _data.Slice(Offset, count);
        Offset += count;
        return span;
    }
}
