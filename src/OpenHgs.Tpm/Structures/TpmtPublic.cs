using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Structures;

/// <summary>
/// TPMT_PUBLIC for RSA and ECC objects. Marshalling is canonical: <see cref="Parse"/> rejects encodings that
/// would not re-marshal to the same bytes, so <see cref="ComputeName"/> always hashes what the TPM hashed.
/// </summary>
/// <param name="Type">TPM_ALG_RSA or TPM_ALG_ECC.</param>
/// <param name="NameAlg">Hash used for the object's Name.</param>
/// <param name="Attributes">TPMA_OBJECT.</param>
/// <param name="AuthPolicy">Policy digest (empty for none).</param>
/// <param name="Parameters"><see cref="RsaParameters"/> or <see cref="EccParameters"/>.</param>
public sealed record TpmtPublic(TpmAlgorithm Type, TpmAlgorithm NameAlg, ObjectAttributes Attributes, byte[] AuthPolicy,
    PublicParameters Parameters)
{
    /// <summary>Largest key component accepted (RSA-4096 modulus).</summary>
    public const int MaxUniqueSize = 512;

    /// <summary>RSA parameters, or null for ECC.</summary>
    public RsaParameters? Rsa => Parameters as RsaParameters;

    /// <summary>ECC parameters, or null for RSA.</summary>
    public EccParameters? Ecc => Parameters as EccParameters;

    /// <summary>Marshals the TPMT_PUBLIC.</summary>
    public void WriteTo(TpmWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteAlgorithm(Type).WriteAlgorithm(NameAlg).WriteUInt32((uint)Attributes).WriteSized(AuthPolicy);
        Parameters.WriteParameters(writer);
        Parameters.WriteUnique(writer);
    }

    /// <summary>The marshalled TPMT_PUBLIC.</summary>
    public byte[] ToBytes() => TpmWriter.Marshal(WriteTo);

    /// <summary>The marshalled TPM2B_PUBLIC (size-prefixed).</summary>
    public byte[] ToSizedBytes() => TpmWriter.Marshal(w => w.WriteSized(ToBytes()));

    /// <summary>The object's Name: nameAlg (big-endian UINT16) ‖ H_nameAlg(TPMT_PUBLIC).</summary>
    public byte[] ComputeName()
    {
        var digest = NameAlg.Hash(ToBytes());
        var name = new byte[2 + digest.Length];
        name[0] = (byte)((ushort)NameAlg >> 8);
        name[1] = (byte)NameAlg;
        digest.CopyTo(name, 2);
        return name;
    }

    /// <summary>Reads a TPMT_PUBLIC.</summary>
    public static TpmtPublic Read(TpmReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var typeOffset = reader.AbsoluteOffset;
        var type = reader.ReadAlgorithm("public type");
        var nameAlg = reader.ReadAlgorithm("nameAlg");
        if (nameAlg.DigestSize() == 0 && nameAlg != TpmAlgorithm.Null)
        {
            throw new TpmFormatException(TpmFormatError.UnsupportedValue, typeOffset + 2, $"nameAlg 0x{(ushort)nameAlg:x4} is not a hash");
        }
        var attributes = (ObjectAttributes)reader.ReadUInt32("objectAttributes");
        var policy = reader.ReadSized("authPolicy", 64);
        PublicParameters parameters = type switch
        {
            TpmAlgorithm.Rsa => ReadRsa(reader),
            TpmAlgorithm.Ecc => ReadEcc(reader),
            _ => throw new TpmFormatException(TpmFormatError.UnsupportedValue, typeOffset, $"public type 0x{(ushort)type:x4} is not RSA or ECC"),
        };
        return new TpmtPublic(type, nameAlg, attributes, policy, parameters);
    }

    /// <summary>Parses a complete TPMT_PUBLIC (no size prefix) and checks it is canonical.</summary>
    public static TpmtPublic Parse(ReadOnlyMemory<byte> bytes)
    {
        var reader = new TpmReader(bytes);
        var result = Read(reader);
        reader.EnsureEnd("TPMT_PUBLIC");
        if (!result.ToBytes().AsSpan().SequenceEqual(bytes.Span))
        {
            throw new TpmFormatException(TpmFormatError.UnsupportedValue, 0, "TPMT_PUBLIC is not canonically encoded");
        }
        return result;
    }

    /// <summary>Reads a TPM2B_PUBLIC (size-prefixed TPMT_PUBLIC).</summary>
    public static TpmtPublic ReadSized(TpmReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var inner = reader.ReadSizedStructure("TPM2B_PUBLIC", out var raw);
        if (raw.Length == 0)
        {
            throw new TpmFormatException(TpmFormatError.SizeMismatch, inner.AbsoluteOffset, "TPM2B_PUBLIC is empty");
        }
        return Parse(raw);
    }

    /// <summary>The public key as a .NET <see cref="RSA"/> or <see cref="ECDsa"/>/<see cref="ECDiffieHellman"/> parameters holder.</summary>
    /// <exception cref="CryptographicException">The key has no modulus (a template, or malformed evidence).</exception>
    public RSA ToRsa()
    {
        var rsa = Rsa ?? throw new InvalidOperationException("Not an RSA key.");
        if (rsa.Modulus.Length == 0)
        {
            // RSA.Create fails with IndexOutOfRangeException on an empty modulus; callers expect CryptographicException.
            throw new CryptographicException("The RSA key has an empty modulus.");
        }
        var e = rsa.EffectiveExponent;
        var exponent = e <= 0xFFFFFF ? new[] { (byte)(e >> 16), (byte)(e >> 8), (byte)e } : BitConverter.GetBytes(e).Reverse().ToArray();
        return RSA.Create(new RSAParameters { Modulus = rsa.Modulus, Exponent = exponent.SkipWhile(b => b == 0).ToArray() });
    }

    /// <summary>The ECC public key as <see cref="ECParameters"/>.</summary>
    public ECParameters ToEcParameters()
    {
        var ecc = Ecc ?? throw new InvalidOperationException("Not an ECC key.");
        return new ECParameters { Curve = NamedCurve(ecc.Curve), Q = new ECPoint { X = ecc.X, Y = ecc.Y } };
    }

    /// <summary>
    /// The public key as DER SubjectPublicKeyInfo, written from the modulus and exponent or the point: the bytes
    /// <c>ExportSubjectPublicKeyInfo</c> gives for <see cref="ToRsa"/> or <see cref="ToEcParameters"/>, without the
    /// OpenSSL import and export (≈0.3 ms together) that would cost.
    /// </summary>
    /// <exception cref="CryptographicException">An empty modulus, or a coordinate longer than the curve's field.</exception>
    /// <exception cref="NotSupportedException">An ECC curve other than NIST P-256, P-384 and P-521.</exception>
    public byte[] ToSubjectPublicKeyInfo()
    {
        switch (Parameters)
        {
            case RsaParameters rsa:
                Span<byte> exponent = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(exponent, rsa.EffectiveExponent);
                return SubjectPublicKeyInfoWriter.Rsa(rsa.Modulus, exponent);
            case EccParameters ecc:
                return SubjectPublicKeyInfoWriter.Ec(NamedCurve(ecc.Curve).Oid.Value!, ecc.X, ecc.Y);
            default:
                throw new InvalidOperationException("Not an RSA or ECC key.");
        }
    }

    private static ECCurve NamedCurve(EccCurve curve) => curve switch
    {
        EccCurve.NistP256 => ECCurve.NamedCurves.nistP256,
        EccCurve.NistP384 => ECCurve.NamedCurves.nistP384,
        EccCurve.NistP521 => ECCurve.NamedCurves.nistP521,
        _ => throw new NotSupportedException($"ECC curve {curve} is not supported."),
    };

    private static RsaParameters ReadRsa(TpmReader r)
    {
        var symmetric = SymmetricDefinition.Read(r);
        var scheme = AsymmetricScheme.Read(r, "RSA scheme");
        var bits = r.ReadUInt16("RSA key bits");
        var exponent = r.ReadUInt32("RSA exponent");
        var modulus = r.ReadSized("RSA modulus", MaxUniqueSize);
        return new RsaParameters(symmetric, scheme, bits, exponent, modulus);
    }

    private static EccParameters ReadEcc(TpmReader r)
    {
        var symmetric = SymmetricDefinition.Read(r);
        var scheme = AsymmetricScheme.Read(r, "ECC scheme");
        var curve = (EccCurve)r.ReadUInt16("ECC curve");
        var kdf = AsymmetricScheme.Read(r, "KDF scheme");
        var x = r.ReadSized("ECC x", 128);
        var y = r.ReadSized("ECC y", 128);
        return new EccParameters(symmetric, scheme, curve, kdf, x, y);
    }
}
