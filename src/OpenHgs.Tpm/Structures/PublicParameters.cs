using OpenHgs.Tpm.Marshalling;

namespace OpenHgs.Tpm.Structures;

/// <summary>TPM_ECC_CURVE identifiers supported here.</summary>
public enum EccCurve : ushort
{
    /// <summary>TPM_ECC_NONE.</summary>
    None = 0x0000,
    /// <summary>TPM_ECC_NIST_P256.</summary>
    NistP256 = 0x0003,
    /// <summary>TPM_ECC_NIST_P384.</summary>
    NistP384 = 0x0004,
    /// <summary>TPM_ECC_NIST_P521.</summary>
    NistP521 = 0x0005,
}

/// <summary>TPMT_SYM_DEF_OBJECT: algorithm, key bits and mode; <see cref="Null"/> when the key is not a storage parent.</summary>
public sealed record SymmetricDefinition(TpmAlgorithm Algorithm, ushort KeyBits, TpmAlgorithm Mode)
{
    /// <summary>TPM_ALG_NULL.</summary>
    public static SymmetricDefinition Null { get; } = new(TpmAlgorithm.Null, 0, TpmAlgorithm.Null);

    /// <summary>AES-128-CFB (EK and SRK templates).</summary>
    public static SymmetricDefinition Aes128Cfb { get; } = new(TpmAlgorithm.Aes, 128, TpmAlgorithm.Cfb);

    internal void WriteTo(TpmWriter w)
    {
        w.WriteAlgorithm(Algorithm);
        if (Algorithm != TpmAlgorithm.Null)
        {
            w.WriteUInt16(KeyBits).WriteAlgorithm(Mode);
        }
    }

    internal static SymmetricDefinition Read(TpmReader r)
    {
        var alg = r.ReadAlgorithm("symmetric algorithm");
        return alg == TpmAlgorithm.Null ? Null : new SymmetricDefinition(alg, r.ReadUInt16("symmetric key bits"), r.ReadAlgorithm("symmetric mode"));
    }
}

/// <summary>An asymmetric or KDF scheme with its hash (TPMT_RSA_SCHEME, TPMT_ECC_SCHEME, TPMT_KDF_SCHEME).</summary>
public sealed record AsymmetricScheme(TpmAlgorithm Scheme, TpmAlgorithm Hash)
{
    /// <summary>TPM_ALG_NULL (no scheme restriction).</summary>
    public static AsymmetricScheme Null { get; } = new(TpmAlgorithm.Null, TpmAlgorithm.Null);

    internal void WriteTo(TpmWriter w)
    {
        w.WriteAlgorithm(Scheme);
        if (HasHash(Scheme))
        {
            w.WriteAlgorithm(Hash);
        }
    }

    internal static AsymmetricScheme Read(TpmReader r, string what)
    {
        var offset = r.AbsoluteOffset;
        var scheme = r.ReadAlgorithm(what);
        if (scheme == TpmAlgorithm.EcDaa)
        {
            throw new TpmFormatException(TpmFormatError.UnsupportedValue, offset, "ECDAA schemes are not supported");
        }
        return HasHash(scheme) ? new AsymmetricScheme(scheme, r.ReadAlgorithm(what + " hash")) : new AsymmetricScheme(scheme, TpmAlgorithm.Null);
    }

    private static bool HasHash(TpmAlgorithm scheme) => scheme is not (TpmAlgorithm.Null or TpmAlgorithm.RsaEs);
}

/// <summary>Algorithm-specific part of a TPMT_PUBLIC: parameters plus the unique field (the public key).</summary>
public abstract record PublicParameters(SymmetricDefinition Symmetric, AsymmetricScheme Scheme)
{
    internal abstract void WriteParameters(TpmWriter w);

    internal abstract void WriteUnique(TpmWriter w);
}

/// <summary>TPMS_RSA_PARMS and TPM2B_PUBLIC_KEY_RSA.</summary>
/// <param name="KeyBits">Modulus size.</param>
/// <param name="Exponent">Public exponent; 0 means 65537.</param>
/// <param name="Modulus">Modulus (big-endian); empty in a template.</param>
public sealed record RsaParameters(SymmetricDefinition Symmetric, AsymmetricScheme Scheme, ushort KeyBits, uint Exponent, byte[] Modulus)
    : PublicParameters(Symmetric, Scheme)
{
    /// <summary>The effective exponent (0 means 65537).</summary>
    public uint EffectiveExponent => Exponent == 0 ? 65537u : Exponent;

    internal override void WriteParameters(TpmWriter w)
    {
        Symmetric.WriteTo(w);
        Scheme.WriteTo(w);
        w.WriteUInt16(KeyBits).WriteUInt32(Exponent);
    }

    internal override void WriteUnique(TpmWriter w) => w.WriteSized(Modulus);
}

/// <summary>TPMS_ECC_PARMS and TPMS_ECC_POINT.</summary>
public sealed record EccParameters(SymmetricDefinition Symmetric, AsymmetricScheme Scheme, EccCurve Curve, AsymmetricScheme Kdf, byte[] X, byte[] Y)
    : PublicParameters(Symmetric, Scheme)
{
    internal override void WriteParameters(TpmWriter w)
    {
        Symmetric.WriteTo(w);
        Scheme.WriteTo(w);
        w.WriteUInt16((ushort)Curve);
        Kdf.WriteTo(w);
    }

    internal override void WriteUnique(TpmWriter w) => w.WriteSized(X).WriteSized(Y);
}
