using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Structures;

/// <summary>TPMS_CLOCK_INFO.</summary>
public sealed record TpmsClockInfo(ulong Clock, uint ResetCount, uint RestartCount, bool Safe)
{
    internal void WriteTo(TpmWriter w) => w.WriteUInt64(Clock).WriteUInt32(ResetCount).WriteUInt32(RestartCount).WriteByte(Safe ? (byte)1 : (byte)0);

    internal static TpmsClockInfo Read(TpmReader r) =>
        new(r.ReadUInt64("clock"), r.ReadUInt32("resetCount"), r.ReadUInt32("restartCount"), r.ReadByte("safe") != 0);
}

/// <summary>The type-specific part of TPMS_ATTEST.</summary>
public abstract record AttestedInfo;

/// <summary>TPMS_QUOTE_INFO: the PCR selection and H(selected PCR values).</summary>
public sealed record QuoteInfo(IReadOnlyList<PcrSelection> PcrSelection, byte[] PcrDigest) : AttestedInfo;

/// <summary>TPMS_CERTIFY_INFO: the certified object's Name and qualified Name.</summary>
public sealed record CertifyInfo(byte[] Name, byte[] QualifiedName) : AttestedInfo;

/// <summary>
/// TPMS_ATTEST (quote and certify). <see cref="Parse"/> reads exactly the bytes the TPM signed; keep those
/// bytes for signature verification rather than re-marshalling.
/// </summary>
public sealed record TpmsAttest(uint Magic, ushort Type, byte[] QualifiedSigner, byte[] ExtraData, TpmsClockInfo ClockInfo,
    ulong FirmwareVersion, AttestedInfo Attested)
{
    /// <summary>TPM_GENERATED_VALUE: the TPM produced this structure.</summary>
    public const uint GeneratedValue = 0xff544347;

    /// <summary>TPM_ST_ATTEST_CERTIFY.</summary>
    public const ushort AttestCertify = 0x8017;

    /// <summary>TPM_ST_ATTEST_QUOTE.</summary>
    public const ushort AttestQuote = 0x8018;

    /// <summary>Marshals the structure.</summary>
    public byte[] ToBytes() => TpmWriter.Marshal(w =>
    {
        w.WriteUInt32(Magic).WriteUInt16(Type).WriteSized(QualifiedSigner).WriteSized(ExtraData);
        ClockInfo.WriteTo(w);
        w.WriteUInt64(FirmwareVersion);
        switch (Attested)
        {
            case QuoteInfo q:
                PcrSelection.WriteList(w, q.PcrSelection);
                w.WriteSized(q.PcrDigest);
                break;
            case CertifyInfo c:
                w.WriteSized(c.Name).WriteSized(c.QualifiedName);
                break;
            default:
                throw new NotSupportedException("Unsupported attestation type.");
        }
    });

    /// <summary>Parses a complete TPMS_ATTEST of type quote or certify.</summary>
    public static TpmsAttest Parse(ReadOnlyMemory<byte> bytes)
    {
        var r = new TpmReader(bytes);
        var magic = r.ReadUInt32("magic");
        var typeOffset = r.AbsoluteOffset;
        var type = r.ReadUInt16("attestation type");
        var signer = r.ReadSized("qualifiedSigner", 2 + 64);
        var extra = r.ReadSized("extraData", 64);
        var clock = TpmsClockInfo.Read(r);
        var firmware = r.ReadUInt64("firmwareVersion");
        AttestedInfo attested = type switch
        {
            AttestQuote => new QuoteInfo(PcrSelection.ReadList(r), r.ReadSized("pcrDigest", 64)),
            AttestCertify => new CertifyInfo(r.ReadSized("name", 2 + 64), r.ReadSized("qualifiedName", 2 + 64)),
            _ => throw new TpmFormatException(TpmFormatError.UnsupportedValue, typeOffset, $"attestation type 0x{type:x4} is not quote or certify"),
        };
        r.EnsureEnd("TPMS_ATTEST");
        return new TpmsAttest(magic, type, signer, extra, clock, firmware, attested);
    }
}
