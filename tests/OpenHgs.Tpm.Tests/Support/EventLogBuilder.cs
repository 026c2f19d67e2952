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

    /// <summary>The PCR index Windows measured-boot logs (WBCL) give EV_NO_ACTION events that belong to no PCR.</summary>
    public const int WindowsNoPcr = -1;

    /// <summary>
    /// A crypto-agile log shaped like a Windows measured-boot log (WBCL): the Spec ID event, firmware measurements in
    /// PCRs 0-7, a boot-manager SIPA tag in PCR 12 (EV_EVENT_TAG) and EV_NO_ACTION events at PCR 0xFFFFFFFF carrying
    /// SIPA TLVs (trust-point and AIK tags), one of them between measurements as Windows writes them.
    /// </summary>
    public static EventLogBuilder WindowsMeasuredBoot(params TpmAlgorithm[] banks) =>
        Agile(banks)
            .Add(0, 0x08, "Hyper-V UEFI Release v4.1\0")
            .Add(WindowsNoPcr, 0x03, Sipa(0x40010001, Sipa(0x00020001, [1]))) // trust point: SIPAEVENT_TRUSTBOUNDARY container
            .Add(1, 0x80000002, "BootOrder")
            .Add(7, 0x80000001, Variable(new Guid("8be4df61-93ca-11d2-aa0d-00e098032b8c"), "SecureBoot", [1]))
            .Add(2, 0x80000003, "option rom")
            .Add(4, 0x80000003, "\\EFI\\Microsoft\\Boot\\bootmgfw.efi")
            .Add(5, 0x80000006, "gpt")
            .AddSeparators(0, 7)
            .Add(12, 0x06, Sipa(0x00040001, [0, 0, 0, 0]))
            .Add(WindowsNoPcr, 0x03, Sipa(0x40010002, Sipa(0x00030001, new byte[32]))); // AIK tag: SIPAEVENT_AIK_ID

    /// <summary>A SIPA TLV (Windows: UINT32 type, UINT32 size, value).</summary>
    public static byte[] Sipa(uint type, byte[] value) => [.. U32(type), .. U32((uint)value.Length), .. value];

    /// <summary>Adds an EV_SEPARATOR (0x00000000) to each PCR in <paramref name="first"/>..<paramref name="last"/>.</summary>
    public EventLogBuilder AddSeparators(int first, int last)
    {
        for (var pcr = first; pcr <= last; pcr++)
        {
            Add(pcr, 0x04, new byte[4]);
        }
        return this;
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
