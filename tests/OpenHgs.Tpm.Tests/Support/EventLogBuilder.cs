using System.Buffers.Binary;
using System.Text;

namespace OpenHgs.Tpm.Tests.Support;

/// <summary>Builds synthetic TCG event logs (legacy or crypto-agile) for tests.</summary>
public sealed class EventLogBuilder
{
    private readonly MemoryStream _stream = new();
    private readonly TpmAlgorithm[]? _banks;

    private EventLogBuilder(TpmAlgorithm[]? banks) => _banks = banks;

    public static EventLogBuilder Legacy() => new(null);

    public static EventLogBuilder Agile(params TpmAlgorithm[] banks)
    {
        var b = new EventLogBuilder(banks);
        var spec = new MemoryStream();
        spec.Write("Spec ID Event03\0"u8);
        spec.Write(U32(0));
        spec.Write([0, 2, 0, 2]);
        spec.Write(U32((uint)banks.Length));
        foreach (var bank in banks)
        {
            spec.Write(U16((ushort)bank));
            spec.Write(U16((ushort)bank.DigestSize()));
        }
        spec.WriteByte(0);
        b.RawLegacy(0, 3, new byte[20], spec.ToArray());
        return b;
    }

    /// <summary>Adds an event whose digests are H(data) in every bank.</summary>
    public EventLogBuilder Add(int pcr, uint type, byte[] data)
    {
        if (_banks is null)
        {
            return RawLegacy(pcr, type, TpmAlgorithm.Sha1.Hash(data), data);
        }
        _stream.Write(U32((uint)pcr));
        _stream.Write(U32(type));
        _stream.Write(U32((uint)_banks.Length));
        foreach (var bank in _banks)
        {
            _stream.Write(U16((ushort)bank));
            _stream.Write(bank.Hash(data));
        }
        _stream.Write(U32((uint)data.Length));
        _stream.Write(data);
        return this;
    }

    public EventLogBuilder Add(int pcr, uint type, string ascii) => Add(pcr, type, Encoding.ASCII.GetBytes(ascii));

    public EventLogBuilder RawLegacy(int pcr, uint type, byte[] sha1, byte[] data)
    {
        _stream.Write(U32((uint)pcr));
        _stream.Write(U32(type));
        _stream.Write(sha1);
        _stream.Write(U32((uint)data.Length));
        _stream.Write(data);
        return this;
    }

    public byte[] Build() => _stream.ToArray();

    public static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    public static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }

    public static byte[] U64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }

    /// <summary>UEFI_VARIABLE_DATA.</summary>
    public static byte[] Variable(Guid guid, string name, byte[] value)
    {
        var s = new MemoryStream();
        s.Write(guid.ToByteArray());
        s.Write(U64((ulong)name.Length));
        s.Write(U64((ulong)value.Length));
        s.Write(Encoding.Unicode.GetBytes(name));
        s.Write(value);
        return s.ToArray();
    }
}
