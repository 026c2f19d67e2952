using System.Formats.Asn1;
using System.Security.Cryptography;

namespace OpenHgs.Crypto;

/// <summary>
/// Writes DER SubjectPublicKeyInfo from raw key parts with the managed ASN.1 writer: byte for byte what .NET's
/// <c>ExportSubjectPublicKeyInfo</c> gives for the same key, without importing it into OpenSSL 3 (≈0.13 ms) and
/// exporting it again. The writing side of <see cref="SubjectPublicKeyInfoReader"/>.
/// </summary>
/// <remarks>It encodes what it is given; whether the key is usable is for the import (<see cref="PublicKeyPool"/>) to say.</remarks>
public static class SubjectPublicKeyInfoWriter
{
    // Named curves and their field sizes in bytes: the coordinates of an uncompressed point are padded to it.
    private static readonly Dictionary<string, int> FieldSizes = new(StringComparer.Ordinal)
    {
        ["1.2.840.10045.3.1.7"] = 32, // NIST P-256
        ["1.3.132.0.34"] = 48, // NIST P-384
        ["1.3.132.0.35"] = 66, // NIST P-521
    };

    /// <summary>An rsaEncryption key (parameters NULL) from its modulus and exponent, unsigned big-endian.</summary>
    /// <exception cref="CryptographicException">The modulus or exponent is empty.</exception>
    public static byte[] Rsa(ReadOnlySpan<byte> modulus, ReadOnlySpan<byte> exponent)
    {
        if (modulus.IsEmpty || exponent.IsEmpty)
        {
            throw new CryptographicException("The RSA key has an empty modulus or exponent.");
        }

        var key = new AsnWriter(AsnEncodingRules.DER);
        using (key.PushSequence())
        {
            // Minimal INTEGERs, as OpenSSL writes them.
            key.WriteIntegerUnsigned(SubjectPublicKeyInfoReader.TrimLeadingZeros(modulus));
            key.WriteIntegerUnsigned(SubjectPublicKeyInfoReader.TrimLeadingZeros(exponent));
        }

        return Write(SubjectPublicKeyInfoReader.RsaEncryptionOid, parameters => parameters.WriteNull(), key.Encode());
    }

    /// <summary>
    /// An id-ecPublicKey on a named NIST curve (P-256, P-384, P-521) with its point uncompressed; the coordinates are
    /// unsigned big-endian and padded to the field size.
    /// </summary>
    /// <exception cref="CryptographicException">Another curve, or a coordinate longer than the field.</exception>
    public static byte[] Ec(string namedCurveOid, ReadOnlySpan<byte> x, ReadOnlySpan<byte> y)
    {
        ArgumentNullException.ThrowIfNull(namedCurveOid);
        if (!FieldSizes.TryGetValue(namedCurveOid, out int size))
        {
            throw new CryptographicException($"The curve {namedCurveOid} is not NIST P-256, P-384 or P-521.");
        }

        x = SubjectPublicKeyInfoReader.TrimLeadingZeros(x);
        y = SubjectPublicKeyInfoReader.TrimLeadingZeros(y);
        if (x.Length > size || y.Length > size)
        {
            throw new CryptographicException("An EC point coordinate is longer than the curve's field.");
        }

        var point = new byte[1 + (2 * size)];
        point[0] = 0x04; // uncompressed
        x.CopyTo(point.AsSpan(1 + size - x.Length));
        y.CopyTo(point.AsSpan(1 + (2 * size) - y.Length));
        return Write(SubjectPublicKeyInfoReader.EcPublicKeyOid, parameters => parameters.WriteObjectIdentifier(namedCurveOid), point);
    }

    private static byte[] Write(string algorithmOid, Action<AsnWriter> writeParameters, ReadOnlySpan<byte> key)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(algorithmOid);
                writeParameters(writer);
            }

            writer.WriteBitString(key);
        }

        return writer.Encode();
    }
}
