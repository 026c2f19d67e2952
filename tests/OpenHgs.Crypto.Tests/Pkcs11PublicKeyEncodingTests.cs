using System.Formats.Asn1;
using System.Security.Cryptography;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Crypto.Tests;

/// <summary>SubjectPublicKeyInfo from PKCS#11 attributes, for both CKA_EC_POINT encodings.</summary>
public sealed class Pkcs11PublicKeyEncodingTests
{
    [Theory]
    [InlineData("1.2.840.10045.3.1.7", KeyAlgorithm.EcP256)]
    [InlineData("1.3.132.0.34", KeyAlgorithm.EcP384)]
    public void Ec_point_is_accepted_wrapped_in_an_octet_string_and_raw(string curveOid, KeyAlgorithm expected)
    {
        using ECDsa key = ECDsa.Create(ECCurve.CreateFromValue(curveOid));
        ECParameters parameters = key.ExportParameters(false);
        byte[] raw = [0x04, .. parameters.Q.X!, .. parameters.Q.Y!];
        byte[] ecParams = Der(w => w.WriteObjectIdentifier(curveOid));
        byte[] wrapped = Der(w => w.WriteOctetString(raw));

        byte[] fromWrapped = Pkcs11KeyObjects.EcSubjectPublicKeyInfo(ecParams, wrapped, out KeyAlgorithm wrappedAlgorithm);
        byte[] fromRaw = Pkcs11KeyObjects.EcSubjectPublicKeyInfo(ecParams, raw, out KeyAlgorithm rawAlgorithm);

        Assert.Equal(key.ExportSubjectPublicKeyInfo(), fromWrapped);
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), fromRaw);
        Assert.Equal(expected, wrappedAlgorithm);
        Assert.Equal(expected, rawAlgorithm);
    }

    [Fact]
    public void Compressed_ec_point_is_refused()
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] compressed = [0x02, .. key.ExportParameters(false).Q.X!];
        byte[] ecParams = Der(w => w.WriteObjectIdentifier("1.2.840.10045.3.1.7"));

        Assert.Throws<CryptographicException>(() => Pkcs11KeyObjects.EcSubjectPublicKeyInfo(ecParams, Der(w => w.WriteOctetString(compressed)), out _));
    }

    [Fact]
    public void Unsupported_curve_is_refused()
    {
        byte[] p521 = Der(w => w.WriteObjectIdentifier("1.3.132.0.35"));
        var error = Assert.Throws<CryptographicException>(() => Pkcs11KeyObjects.EcSubjectPublicKeyInfo(p521, new byte[133], out _));
        Assert.Contains("1.3.132.0.35", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rsa_modulus_with_a_leading_zero_byte_gives_the_same_key()
    {
        using RSA key = RSA.Create(2048);
        RSAParameters parameters = key.ExportParameters(false);

        byte[] spki = Pkcs11KeyObjects.RsaSubjectPublicKeyInfo([0x00, .. parameters.Modulus!], parameters.Exponent!);

        Assert.Equal(key.ExportSubjectPublicKeyInfo(), spki);
    }

    [Theory]
    [InlineData(2048)]
    [InlineData(3072)]
    [InlineData(4096)]
    public void Rsa_parts_read_from_a_subject_public_key_info_are_the_keys_parameters(int bits)
    {
        using RSA key = RSA.Create(bits);
        RSAParameters parameters = key.ExportParameters(false);

        var (modulus, exponent) = SubjectPublicKeyInfoReader.ReadRsa(key.ExportSubjectPublicKeyInfo());

        Assert.Equal(parameters.Modulus, modulus);
        Assert.Equal(parameters.Exponent, exponent);
        Assert.Equal(bits, SubjectPublicKeyInfoReader.ModulusBits(modulus));
        Assert.Equal(SubjectPublicKeyInfoReader.RsaEncryptionOid, SubjectPublicKeyInfoReader.ReadAlgorithm(key.ExportSubjectPublicKeyInfo()));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), Pkcs11KeyObjects.RsaSubjectPublicKeyInfo(modulus, exponent));
    }

    [Fact]
    public void Rsa_parts_refuse_what_is_not_an_rsa_subject_public_key_info()
    {
        using ECDsa ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using RSA rsa = RSA.Create(2048);
        byte[] spki = rsa.ExportSubjectPublicKeyInfo();

        Assert.Contains("rsaEncryption", Assert.Throws<CryptographicException>(() => SubjectPublicKeyInfoReader.ReadRsa(ec.ExportSubjectPublicKeyInfo())).Message, StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(() => SubjectPublicKeyInfoReader.ReadRsa(spki.AsMemory(0, spki.Length - 1)));
        Assert.Throws<CryptographicException>(() => SubjectPublicKeyInfoReader.ReadRsa((byte[])[.. spki, 0x00]));
        Assert.Throws<CryptographicException>(() => SubjectPublicKeyInfoReader.ReadRsa(rsa.ExportRSAPublicKey()));
    }

    [Fact]
    public void Same_rsa_key_is_recognised_across_encodings_and_other_keys_are_not()
    {
        using RSA key = RSA.Create(2048);
        using RSA other = RSA.Create(2048);
        using ECDsa ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] spki = key.ExportSubjectPublicKeyInfo();
        // The same key with the algorithm parameters absent instead of NULL: other bytes, same key.
        byte[] withoutNull = Der(w =>
        {
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(SubjectPublicKeyInfoReader.RsaEncryptionOid);
                }

                w.WriteBitString(key.ExportRSAPublicKey());
            }
        });

        Assert.True(SubjectPublicKeyInfoReader.SameRsaKey(spki, spki));
        Assert.NotEqual(spki, withoutNull);
        Assert.True(SubjectPublicKeyInfoReader.SameRsaKey(spki, withoutNull));
        Assert.False(SubjectPublicKeyInfoReader.SameRsaKey(spki, other.ExportSubjectPublicKeyInfo()));
        Assert.False(SubjectPublicKeyInfoReader.SameRsaKey(ec.ExportSubjectPublicKeyInfo(), ec.ExportSubjectPublicKeyInfo()));
        Assert.False(SubjectPublicKeyInfoReader.SameRsaKey(spki, [0x30, 0x00]));
    }

    private static byte[] Der(Action<AsnWriter> write)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        write(writer);
        return writer.Encode();
    }
}
