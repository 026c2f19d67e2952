using System.Security.Cryptography;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Protocol.Tests;

/// <summary>The one rule for host signing keys (design change 65): which are accepted, and the scheme each signs with.</summary>
public sealed class HostSigningKeysTests
{
    [Theory]
    [InlineData(2048)]
    [InlineData(3072)]
    public void Rsa_keys_of_2048_bits_or_more_sign_rs256_and_verify(int bits)
    {
        using var key = RSA.Create(bits);
        var verdict = HostSigningKeys.Judge(key.ExportSubjectPublicKeyInfo());
        Assert.True(verdict.IsAccepted, verdict.Refusal);
        Assert.Same(HostEvidenceSignature.Rs256, verdict.Signature);

        byte[] message = HostKeyEvidenceMessage.Build(RandomNumberGenerator.GetBytes(32), key.ExportSubjectPublicKeyInfo());
        byte[] signature = verdict.Signature.Sign(key, message);

        // RS256 is RSASSA-PKCS1-v1_5 with SHA-256, as any RSA implementation verifies it.
        Assert.Equal(bits / 8, signature.Length);
        Assert.True(key.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.True(verdict.Signature.Verify(key, message, signature));
        message[^1] ^= 1;
        Assert.False(verdict.Signature.Verify(key, message, signature));
    }

    [Fact]
    public void A_1024_bit_rsa_key_is_refused_naming_its_size()
    {
        using var key = RSA.Create(1024);
        var verdict = HostSigningKeys.Judge(key.ExportSubjectPublicKeyInfo());
        Assert.False(verdict.IsAccepted);
        Assert.False(verdict.IsMalformed);
        Assert.Null(verdict.Signature);
        Assert.Equal("RSA keys must be at least 2048 bits, not 1024.", verdict.Refusal);
    }

    [Fact]
    public void P256_signs_es256_and_P384_signs_es384()
    {
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Same(HostEvidenceSignature.Es256, HostSigningKeys.Judge(p256.ExportSubjectPublicKeyInfo()).Signature);
        Assert.Same(HostEvidenceSignature.Es384, HostSigningKeys.Judge(p384.ExportSubjectPublicKeyInfo()).Signature);

        byte[] message = RandomNumberGenerator.GetBytes(64);
        byte[] signature = HostEvidenceSignature.Es384.Sign(p384, message);
        Assert.Equal(96, signature.Length); // r‖s
        Assert.True(p384.VerifyData(message, signature, HashAlgorithmName.SHA384));
        Assert.False(HostEvidenceSignature.Es256.Verify(p384, message, signature));
    }

    [Fact]
    public void A_scheme_never_signs_or_verifies_with_a_key_of_the_other_kind()
    {
        using var rsa = RSA.Create(2048);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] message = RandomNumberGenerator.GetBytes(64);

        Assert.Throws<ArgumentException>(() => HostEvidenceSignature.Es256.Sign(rsa, message));
        Assert.Throws<ArgumentException>(() => HostEvidenceSignature.Rs256.Sign(ec, message));
        Assert.False(HostEvidenceSignature.Es256.Verify(rsa, message, HostEvidenceSignature.Rs256.Sign(rsa, message)));
        Assert.False(HostEvidenceSignature.Rs256.Verify(ec, message, HostEvidenceSignature.Es256.Sign(ec, message)));
    }

    [Fact]
    public void Other_curves_are_refused_naming_the_curve_and_bad_der_is_malformed()
    {
        using var secp256k1 = ECDsa.Create(ECCurve.CreateFromValue("1.3.132.0.10"));
        var curve = HostSigningKeys.Judge(secp256k1.ExportSubjectPublicKeyInfo());
        Assert.False(curve.IsAccepted);
        Assert.False(curve.IsMalformed);
        Assert.Equal("EC keys must be on P-256 or P-384, not 1.3.132.0.10 (secp256k1).", curve.Refusal);

        var garbage = HostSigningKeys.Judge(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x00 });
        Assert.False(garbage.IsAccepted);
        Assert.True(garbage.IsMalformed);
    }
}
