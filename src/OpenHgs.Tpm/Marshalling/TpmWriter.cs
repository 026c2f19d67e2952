using System.Buffers.Binary;

namespace OpenHgs.Tpm.Marshalling;

/// <summary>Big-endian writer for TPM 2.0 structures. Not thread-safe.</summary>
public sealed class TpmWriter
{
    private readonly MemoryStream _stream = new();

    /// <summary>Bytes written so far.</summary>
    public int Length => (int)_stream.Length;

    /// <summary>Writes raw bytes.</summary>
    public TpmWriter Write(ReadOnlySpan<byte> bytes)
    {
        _stream.Write(bytes);
        return this;
    }

    /// <summary>UINT8.</summary>
    public TpmWriter WriteByte(byte value)
    {
        _stream.WriteByte(value);
        return this;
    }

    /// <summary>UINT16.</summary>
    public TpmWriter WriteUInt16(ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return Write(b);
    }

    /// <summary>UINT32.</summary>
    public TpmWriter WriteUInt32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return Write(b);
    }

    /// <summary>UINT64.</summary>
    public TpmWriter WriteUInt64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return Write(b);
    }

    /// <summary>TPM_ALG_ID.</summary>
    public TpmWriter WriteAlgorithm(TpmAlgorithm algorithm) => WriteUInt16((ushort)algorithm);

    /// <summary>A TPM2B: UINT16 size then the bytes.</summary>
    public TpmWriter WriteSized(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), "A TPM2B holds at most 65535 bytes.");
        }
        WriteUInt16((ushort)bytes.Length);
        return Write(bytes);
    }

    /// <summary>A TPM2B wrapping a structure written by <paramref name="body"/>.</summary>
    public TpmWriter WriteSized(Action<TpmWriter> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var inner = new TpmWriter();
        body(inner);
        return WriteSized(inner.ToArray());
    }

    /// <summary>The bytes written.</summary>
    public byte[] ToArray() => _stream.ToArray();

    /// <summary>Marshals a value with <paramref name="write"/> and returns the bytes.</summary>
    public static byte[] Marshal(Action<TpmWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var w = new TpmWriter();
        write(w);
        return w.ToArray();
    }
}
