using System.Security.Cryptography;
using OpenHgs.Service.Hosts;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class HostKeysTests
{
    [Fact]
    public void Pem_and_base64_der_parse_to_the_same_key()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] fromPem = HostKeys.ParsePublicKey(key.ExportSubjectPublicKeyInfoPem(), "publicKey");
        byte[] fromDer = HostKeys.ParsePublicKey(Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()), "publicKey");
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), fromPem);
        Assert.Equal(fromPem, fromDer);
    }

    [Theory]
    [InlineData("not base64!", "PublicKeyMalformed")]
    [InlineData("AAAA", "PublicKeyMalformed")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "PublicKeyMalformed")]
    public void Bad_keys_are_refused_with_a_reason(string text, string code)
    {
        var error = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(text, "publicKey"));
        Assert.Equal(code, error.Code);
        Assert.StartsWith("publicKey:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Short_rsa_keys_are_refused()
    {
        using var weak = RSA.Create(1024);
        var error = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(weak.ExportSubjectPublicKeyInfoPem(), "publicKey"));
        Assert.Equal("PublicKeyUnsupported", error.Code);
    }

    [Fact]
    public void Encryption_keys_must_be_rsa()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var error = Assert.Throws<ServiceException>(() => HostKeys.Validate(ec.ExportSubjectPublicKeyInfo(), "encryptionPublicKey", forSigning: false));
        Assert.Equal("PublicKeyUnsupported", error.Code);
    }

    [Fact]
    public void Signatures_verify_only_with_the_signing_key_and_message()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        byte[] message = RandomNumberGenerator.GetBytes(64);
        byte[] ecSignature = ec.SignData(message, HashAlgorithmName.SHA256);
        byte[] rsaSignature = rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.True(HostKeys.VerifySignature(ec.ExportSubjectPublicKeyInfo(), message, ecSignature));
        Assert.True(HostKeys.VerifySignature(rsa.ExportSubjectPublicKeyInfo(), message, rsaSignature));
        Assert.False(HostKeys.VerifySignature(rsa.ExportSubjectPublicKeyInfo(), message, ecSignature));
        message[0] ^= 1;
        Assert.False(HostKeys.VerifySignature(ec.ExportSubjectPublicKeyInfo(), message, ecSignature));
    }
}
