using System.Buffers.Binary;

namespace OpenHgs.Tpm.Marshalling;

/// <summary>
/// Bounds-checked big-endian reader for TPM 2.0 structures (TPM 2.0 Part 2 marshalling rules).
/// Every read past the end throws <see cref="TpmFormatException"/> with the offset.
/// </summary>
public sealed class TpmReader
{
    /// <summary>Largest TPM2B accepted (TPM buffers are at most a few KiB; 64 KiB is the field's range).</summary>
    public const int MaxBufferSize = ushort.MaxValue;

    private readonly ReadOnlyMemory<byte> _data;

    /// <summary>Reads from <paramref name="data"/>, reporting offsets relative to its start plus <paramref name="baseOffset"/>.</summary>
    public TpmReader(ReadOnlyMemory<byte> data, int baseOffset = 0)
    {
        _data = data;
        BaseOffset = baseOffset;
    }

    private int BaseOffset { get; }

    /// <summary>Current offset in the buffer.</summary>
    public int Position { get; private set; }

    /// <summary>Absolute offset (for error reports).</summary>
    public int AbsoluteOffset => BaseOffset + Position;

    /// <summary>Bytes not yet read.</summary>
    public int Remaining => _data.Length - Position;

    /// <summary>Reads raw bytes.</summary>
    public ReadOnlySpan<byte> ReadSpan(int count, string what) => ReadMemory(count, what).Span;

    /// <summary>Reads raw bytes as memory (no copy).</summary>
    public ReadOnlyMemory<byte> ReadMemory(int count, string what)
    {
        if (count < 0 || count > Remaining)
        {
            throw new TpmFormatException(TpmFormatError.Truncated, AbsoluteOffset,
                $"{what} needs {count} bytes, {Remaining} remain");
        }
        var slice = _data.Slice(Position, count);
        Position += count;
        return slice;
    }

    /// <summary>Reads raw bytes into a new array.</summary>
    public byte[] ReadBytes(int count, string what) => ReadSpan(count, what).ToArray();

    /// <summary>UINT8.</summary>
    public byte ReadByte(string what) => ReadSpan(1, what)[0];

    /// <summary>UINT16.</summary>
    public ushort ReadUInt16(string what) => BinaryPrimitives.ReadUInt16BigEndian(ReadSpan(2, what));

    /// <summary>UINT32.</summary>
    public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32BigEndian(ReadSpan(4, what));

    /// <summary>UINT64.</summary>
    public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64BigEndian(ReadSpan(8, what));

    /// <summary>TPM_ALG_ID.</summary>
    public TpmAlgorithm ReadAlgorithm(string what) => (TpmAlgorithm)ReadUInt16(what);

    /// <summary>A TPM2B: UINT16 size then that many bytes; <paramref name="maxSize"/> bounds the size.</summary>
    public byte[] ReadSized(string what, int maxSize = MaxBufferSize)
    {
        var offset = AbsoluteOffset;
        var size = ReadUInt16(what + " size");
        if (size > maxSize)
        {
            throw new TpmFormatException(TpmFormatError.SizeTooLarge, offset, $"{what} is {size} bytes, limit {maxSize}");
        }
        return ReadBytes(size, what);
    }

    /// <summary>
    /// Reads a TPM2B that wraps a structure (TPM2B_PUBLIC, TPM2B_ATTEST, …): returns a reader over exactly
    /// the declared bytes and the raw bytes; the caller must consume the nested reader completely.
    /// </summary>
    public TpmReader ReadSizedStructure(string what, out byte[] raw, int maxSize = MaxBufferSize)
    {
        var sizeOffset = AbsoluteOffset;
        var size = ReadUInt16(what + " size");
        if (size > maxSize)
        {
            throw new TpmFormatException(TpmFormatError.SizeTooLarge, sizeOffset, $"{what} is {size} bytes, limit {maxSize}");
        }
        var start = AbsoluteOffset;
        raw = ReadBytes(size, what);
        return new TpmReader(raw, start);
    }

    /// <summary>Throws <see cref="TpmFormatException"/> with <see cref="TpmFormatError.TrailingBytes"/> when bytes remain.</summary>
    public void EnsureEnd(string what)
    {
        if (Remaining != 0)
        {
            throw new TpmFormatException(TpmFormatError.TrailingBytes, AbsoluteOffset, $"{Remaining} bytes follow {what}");
        }
    }

    /// <summary>Throws <see cref="TpmFormatException"/> for a count beyond <paramref name="max"/>.</summary>
    public uint ReadCount(string what, uint max)
    {
        var offset = AbsoluteOffset;
        var count = ReadUInt32(what);
        if (count > max)
        {
            throw new TpmFormatException(TpmFormatError.CountTooLarge, offset, $"{what} is {count}, limit {max}");
        }
        return count;
    }
}
