using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Structures;

/// <summary>
/// TPMT_SIGNATURE for RSASSA, RSAPSS and ECDSA. For RSA <see cref="Signature"/> holds the signature and
/// <see cref="S"/> is empty; for ECDSA <see cref="Signature"/> is r and <see cref="S"/> is s (big-endian).
/// </summary>
public sealed record TpmtSignature(TpmAlgorithm SignatureAlgorithm, TpmAlgorithm Hash, byte[] Signature, byte[] S)
{
    /// <summary>Largest signature component accepted (RSA-4096).</summary>
    public const int MaxComponentSize = 512;

    /// <summary>Marshals the structure.</summary>
    public void WriteTo(TpmWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteAlgorithm(SignatureAlgorithm);
        switch (SignatureAlgorithm)
        {
            case TpmAlgorithm.RsaSsa or TpmAlgorithm.RsaPss:
                writer.WriteAlgorithm(Hash).WriteSized(Signature);
                break;
            case TpmAlgorithm.EcDsa:
                writer.WriteAlgorithm(Hash).WriteSized(Signature).WriteSized(S);
                break;
            case TpmAlgorithm.Null:
                break;
            default:
                throw new NotSupportedException($"Signature algorithm {SignatureAlgorithm.Name()} is not supported.");
        }
    }

    /// <summary>Marshals to bytes.</summary>
    public byte[] ToBytes() => TpmWriter.Marshal(WriteTo);

    /// <summary>Unmarshals; unsupported algorithms throw <see cref="TpmFormatException"/>.</summary>
    public static TpmtSignature Read(TpmReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var offset = reader.AbsoluteOffset;
        var alg = reader.ReadAlgorithm("signature algorithm");
        switch (alg)
        {
            case TpmAlgorithm.RsaSsa or TpmAlgorithm.RsaPss:
                return new TpmtSignature(alg, reader.ReadAlgorithm("signature hash"),
                    reader.ReadSized("RSA signature", MaxComponentSize), []);
            case TpmAlgorithm.EcDsa:
                var hash = reader.ReadAlgorithm("signature hash");
                var r = reader.ReadSized("ECDSA r", MaxComponentSize);
                var s = reader.ReadSized("ECDSA s", MaxComponentSize);
                return new TpmtSignature(alg, hash, r, s);
            case TpmAlgorithm.Null:
                return new TpmtSignature(alg, TpmAlgorithm.Null, [], []);
            default:
                throw new TpmFormatException(TpmFormatError.UnsupportedValue, offset,
                    $"signature algorithm 0x{(ushort)alg:x4} is not supported");
        }
    }

    /// <summary>Unmarshals a complete buffer.</summary>
    public static TpmtSignature Parse(ReadOnlyMemory<byte> bytes)
    {
        var reader = new TpmReader(bytes);
        var signature = Read(reader);
        reader.EnsureEnd("TPMT_SIGNATURE");
        return signature;
    }
}
