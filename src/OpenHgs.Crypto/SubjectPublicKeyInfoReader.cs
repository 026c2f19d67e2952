using System.Formats.Asn1;
using System.Security.Cryptography;

namespace OpenHgs.Crypto;

/// <summary>
/// Reads DER SubjectPublicKeyInfo structures with the managed ASN.1 reader: the algorithm, an RSA key's modulus and
/// exponent, and an EC key's named curve. Microseconds, where importing the key into OpenSSL 3 to ask the same costs
/// ≈0.13 ms (and exporting parameters again ≈0.15 ms) — costs every attestation and release used to pay for keys it
/// only needed to look at.
/// </summary>
/// <remarks>Strict DER; anything else is a <see cref="CryptographicException"/>. It checks structure, not key quality.</remarks>
public static class SubjectPublicKeyInfoReader
{
    public const string RsaEncryptionOid = "1.2.840.113549.1.1.1";
    public const string EcPublicKeyOid = "1.2.840.10045.2.1";
    public const string P256CurveOid = "1.2.840.10045.3.1.7";
    public const string P384CurveOid = "1.3.132.0.34";

    /// <summary>The algorithm OID of a DER SubjectPublicKeyInfo (which must be exactly one structure).</summary>
    /// <exception cref="CryptographicException">Not DER SubjectPublicKeyInfo.</exception>
    public static string ReadAlgorithm(ReadOnlyMemory<byte> subjectPublicKeyInfo) => Read(subjectPublicKeyInfo, (oid, _, _) => oid);

    /// <summary>
    /// The modulus and public exponent (unsigned big-endian, no leading zeros) of a DER rsaEncryption SubjectPublicKeyInfo.
    /// </summary>
    /// <exception cref="CryptographicException">Not a DER rsaEncryption SubjectPublicKeyInfo with a positive modulus and exponent.</exception>
    public static (byte[] Modulus, byte[] Exponent) ReadRsa(ReadOnlyMemory<byte> subjectPublicKeyInfo) =>
        Read(subjectPublicKeyInfo, (oid, parameters, key) =>
        {
            if (oid != RsaEncryptionOid)
            {
                throw new CryptographicException("The SubjectPublicKeyInfo is not an rsaEncryption key.");
            }

            if (parameters.HasData)
            {
                parameters.ReadNull();
            }

            parameters.ThrowIfNotEmpty();
            var outer = new AsnReader(key, AsnEncodingRules.DER);
            var parts = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            var modulus = parts.ReadIntegerBytes();
            var exponent = parts.ReadIntegerBytes();
            parts.ThrowIfNotEmpty();
            if (!IsPositive(modulus.Span) || !IsPositive(exponent.Span))
            {
                throw new CryptographicException("The RSA SubjectPublicKeyInfo is malformed.");
            }

            return (TrimLeadingZeros(modulus.Span).ToArray(), TrimLeadingZeros(exponent.Span).ToArray());
        });

    /// <summary>
    /// The named-curve OID of a DER id-ecPublicKey SubjectPublicKeyInfo (RFC 5480 §2.1.1), or null when its parameters
    /// do not name a curve: specifiedCurve (explicit parameters, a SEQUENCE) or implicitCurve (NULL), which RFC 5480
    /// forbids and which callers must refuse. A curve is judged by this OID, never by the key size: secp256k1 and
    /// brainpoolP256r1 are 256-bit curves too.
    /// </summary>
    /// <exception cref="CryptographicException">
    /// Not a DER id-ecPublicKey SubjectPublicKeyInfo: another algorithm, absent parameters, parameters of another type
    /// or followed by more data, or an empty key.
    /// </exception>
    public static string? ReadEcNamedCurve(ReadOnlyMemory<byte> subjectPublicKeyInfo) =>
        Read(subjectPublicKeyInfo, (oid, parameters, key) =>
        {
            if (oid != EcPublicKeyOid)
            {
                throw new CryptographicException("The SubjectPublicKeyInfo is not an id-ecPublicKey key.");
            }

            if (!parameters.HasData || key.IsEmpty)
            {
                throw new CryptographicException("The EC SubjectPublicKeyInfo is malformed.");
            }

            var tag = parameters.PeekTag();
            string? curve = null;
            if (tag.HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
            {
                curve = parameters.ReadObjectIdentifier();
            }
            else if (tag.HasSameClassAndValue(Asn1Tag.Sequence))
            {
                parameters.ReadSequence(); // specifiedCurve: its encoding is checked, its contents are not read
            }
            else
            {
                parameters.ReadNull(); // implicitCurve; any other type throws here
            }

            parameters.ThrowIfNotEmpty();
            return curve;
        });

    /// <summary>The size in bits of an RSA modulus as <see cref="ReadRsa"/> returns it.</summary>
    public static int ModulusBits(ReadOnlySpan<byte> modulus) =>
        modulus.IsEmpty ? 0 : ((modulus.Length - 1) * 8) + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)modulus[0]));

    private static T Read<T>(ReadOnlyMemory<byte> subjectPublicKeyInfo, Func<string, AsnReader, ReadOnlyMemory<byte>, T> interpret)
    {
        try
        {
            var outer = new AsnReader(subjectPublicKeyInfo, AsnEncodingRules.DER);
            var info = outer.ReadSequence();
            outer.ThrowIfNotEmpty();
            var algorithm = info.ReadSequence();
            string oid = algorithm.ReadObjectIdentifier();
            byte[] key = info.ReadBitString(out int unusedBits);
            info.ThrowIfNotEmpty();
            if (unusedBits != 0)
            {
                throw new CryptographicException("The SubjectPublicKeyInfo's key is not a whole number of bytes.");
            }

            return interpret(oid, algorithm, key);
        }
        catch (AsnContentException ex)
        {
            throw new CryptographicException("The SubjectPublicKeyInfo is not valid DER.", ex);
        }
    }

    private static bool IsPositive(ReadOnlySpan<byte> integer) => integer.Length > 0 && (integer[0] & 0x80) == 0 && integer.ContainsAnyExcept((byte)0);

    /// <summary>An unsigned big-endian integer without its leading zero bytes (one zero byte stays for zero).</summary>
    public static ReadOnlySpan<byte> TrimLeadingZeros(ReadOnlySpan<byte> value)
    {
        int start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value[start..];
    }

    /// <summary>
    /// True if both DER SubjectPublicKeyInfos hold the same RSA key: equal bytes, or equal modulus and exponent when
    /// the encodings differ (e.g. absent against NULL algorithm parameters). False for anything that is not RSA.
    /// </summary>
    public static bool SameRsaKey(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        if (first.SequenceEqual(second))
        {
            return ReadAlgorithmOrNull(first.ToArray()) == RsaEncryptionOid;
        }

        try
        {
            var (m1, e1) = ReadRsa(first.ToArray());
            var (m2, e2) = ReadRsa(second.ToArray());
            return m1.AsSpan().SequenceEqual(m2) && e1.AsSpan().SequenceEqual(e2);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string? ReadAlgorithmOrNull(byte[] subjectPublicKeyInfo)
    {
        try
        {
            return ReadAlgorithm(subjectPublicKeyInfo);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
