using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Verification;

/// <summary>
/// <see cref="TpmtPublic.ToSubjectPublicKeyInfo"/> writes the SPKI directly; the service stores and compares those
/// bytes, so they must be exactly what the import-and-export it replaces gave. And signatures verify with pooled keys.
/// </summary>
public sealed class SubjectPublicKeyInfoTests
{
    [Theory]
    [InlineData(2048, 0u)] // 0 means 65537
    [InlineData(2048, 3u)]
    [InlineData(3072, 65537u)]
    [InlineData(2048, 0x01000001u)] // an exponent wider than three bytes
    public void Rsa_keys_write_the_bytes_openssl_exports(int bits, uint exponent)
    {
        using var generated = RSA.Create(bits);
        var key = RsaKey(generated.ExportParameters(false).Modulus!, exponent);

        using var imported = key.ToRsa();
        Assert.Equal(imported.ExportSubjectPublicKeyInfo(), key.ToSubjectPublicKeyInfo());
    }

    [Fact]
    public void An_rsa_modulus_with_leading_zero_bytes_writes_the_minimal_integer_openssl_exports()
    {
        using var generated = RSA.Create(2048);
        byte[] modulus = [0, 0, .. generated.ExportParameters(false).Modulus!];

        using var imported = RsaKey(modulus, 0).ToRsa();
        Assert.Equal(imported.ExportSubjectPublicKeyInfo(), RsaKey(modulus, 0).ToSubjectPublicKeyInfo());
        Assert.Equal(generated.ExportSubjectPublicKeyInfo(), RsaKey(modulus, 0).ToSubjectPublicKeyInfo());
    }

    [Theory]
    [InlineData(EccCurve.NistP256)]
    [InlineData(EccCurve.NistP384)]
    [InlineData(EccCurve.NistP521)]
    public void Ec_keys_write_the_bytes_openssl_exports(EccCurve curve)
    {
        var key = EcKey(curve, out var generated);
        using (generated)
        {
            using var imported = ECDsa.Create(key.ToEcParameters());
            Assert.Equal(imported.ExportSubjectPublicKeyInfo(), key.ToSubjectPublicKeyInfo());
            Assert.Equal(generated.ExportSubjectPublicKeyInfo(), key.ToSubjectPublicKeyInfo());
        }
    }

    [Fact]
    public void A_short_ec_coordinate_is_padded_to_the_field_as_openssl_exports_it()
    {
        // A P-256 key whose x has a leading zero byte (1 in 256 keys), sent by the TPM with or without it.
        ECParameters p;
        ECDsa generated;
        do
        {
            generated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            p = generated.ExportParameters(false);
            if (p.Q.X![0] != 0)
            {
                generated.Dispose();
            }
        }
        while (p.Q.X![0] != 0);

        using (generated)
        {
            var full = EcKey(EccCurve.NistP256, p.Q.X!, p.Q.Y!);
            var trimmed = EcKey(EccCurve.NistP256, p.Q.X![1..], p.Q.Y!);
            Assert.Equal(generated.ExportSubjectPublicKeyInfo(), full.ToSubjectPublicKeyInfo());
            Assert.Equal(generated.ExportSubjectPublicKeyInfo(), trimmed.ToSubjectPublicKeyInfo());
        }
    }

    [Fact]
    public void Keys_without_material_or_too_long_coordinates_are_refused()
    {
        Assert.Throws<CryptographicException>(() => TpmTemplates.AkRsa2048.ToSubjectPublicKeyInfo());
        byte[] tooLong = [1, .. new byte[32]];
        Assert.Throws<CryptographicException>(() => EcKey(EccCurve.NistP256, tooLong, tooLong).ToSubjectPublicKeyInfo());
        Assert.Throws<NotSupportedException>(() => EcKey((EccCurve)0x0020, [1], [1]).ToSubjectPublicKeyInfo());
    }

    [Theory]
    [InlineData(TpmAlgorithm.RsaSsa)]
    [InlineData(TpmAlgorithm.RsaPss)]
    [InlineData(TpmAlgorithm.EcDsa)]
    public void Signatures_verify_with_pooled_keys_again_and_again_and_altered_ones_do_not(TpmAlgorithm scheme)
    {
        byte[] data = RandomNumberGenerator.GetBytes(100);
        TpmtPublic key;
        TpmtSignature signature;
        if (scheme == TpmAlgorithm.EcDsa)
        {
            key = EcKey(EccCurve.NistP256, out var ec);
            using (ec)
            {
                byte[] rs = ec.SignData(data, HashAlgorithmName.SHA256);
                signature = new TpmtSignature(scheme, TpmAlgorithm.Sha256, rs[..32], rs[32..]);
            }
        }
        else
        {
            using var rsa = RSA.Create(2048);
            key = RsaKey(rsa.ExportParameters(false).Modulus!, 0);
            signature = new TpmtSignature(scheme, TpmAlgorithm.Sha256,
                rsa.SignData(data, HashAlgorithmName.SHA256, scheme == TpmAlgorithm.RsaSsa ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss), []);
        }

        for (int i = 0; i < 3; i++)
        {
            Assert.True(SignatureVerifier.Verify(key, data, signature).Succeeded);
        }

        data[0] ^= 1;
        Assert.Equal(AttestationFailure.BadSignature, SignatureVerifier.Verify(key, data, signature).Failure);
    }

    private static TpmtPublic RsaKey(byte[] modulus, uint exponent) =>
        TpmTemplates.AkRsa2048 with { Parameters = new RsaParameters(SymmetricDefinition.Null, AsymmetricScheme.Null, (ushort)(modulus.Length * 8), exponent, modulus) };

    private static TpmtPublic EcKey(EccCurve curve, byte[] x, byte[] y) =>
        TpmTemplates.AkEccP256 with { Parameters = new EccParameters(SymmetricDefinition.Null, AsymmetricScheme.Null, curve, AsymmetricScheme.Null, x, y) };

    private static TpmtPublic EcKey(EccCurve curve, out ECDsa generated)
    {
        generated = ECDsa.Create(curve switch
        {
            EccCurve.NistP256 => ECCurve.NamedCurves.nistP256,
            EccCurve.NistP384 => ECCurve.NamedCurves.nistP384,
            _ => ECCurve.NamedCurves.nistP521,
        });
        var p = generated.ExportParameters(false);
        return EcKey(curve, p.Q.X!, p.Q.Y!);
    }
}
