using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

public sealed class LocalGuardianTests
{
    [Fact]
    public void Create_makes_a_valid_tenant_guardian()
    {
        var now = new DateTimeOffset(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
        using var guardian = LocalGuardian.Create("Contoso", new FixedTimeProvider(now));

        guardian.Metadata.Validate();
        Assert.Equal("Contoso", guardian.Metadata.Name);
        Assert.Equal(["RSA-OAEP-256", "RSA-OAEP"], guardian.Metadata.WrapAlgorithms);
        Assert.Equal(2048, guardian.SigningKey.KeySize);
        Assert.Equal(2048, guardian.EncryptionKey.KeySize);
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(guardian.Metadata.EncryptionCertificate);
        Assert.Equal(now.AddMinutes(-5), new DateTimeOffset(certificate.NotBefore.ToUniversalTime()));
        Assert.Equal(now + LocalGuardian.CertificateLifetime, new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
    }

    [Fact]
    public void Round_trips_through_the_owner_file()
    {
        var original = TestGuardians.Owner;
        string json = original.ToJson();
        var node = JsonNode.Parse(json)!.AsObject();
        Assert.Equal("openhgs-guardian-private", (string?)node["kind"]);
        Assert.Equal("openhgs-guardian-metadata", (string?)node["metadata"]!["kind"]);

        using var parsed = LocalGuardian.Parse(json);

        Assert.Equal(original.Metadata.Name, parsed.Metadata.Name);
        Assert.Equal(original.Metadata.SigningCertificate, parsed.Metadata.SigningCertificate);
        Assert.Equal(original.Metadata.EncryptionCertificate, parsed.Metadata.EncryptionCertificate);
        byte[] data = [1, 2, 3];
        Assert.True(original.SigningKey.VerifyData(data, parsed.SigningKey.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal(data, parsed.EncryptionKey.Decrypt(original.EncryptionKey.Encrypt(data, RSAEncryptionPadding.OaepSHA256), RSAEncryptionPadding.OaepSHA256));
        Assert.Equal(json, parsed.ToJson());
    }

    [Fact]
    public void Parse_refuses_keys_that_do_not_match_the_certificates()
    {
        var node = JsonNode.Parse(TestGuardians.Owner.ToJson())!.AsObject();
        var other = JsonNode.Parse(TestGuardians.FabricA.ToJson())!.AsObject();
        node["encryptionKey"] = (string?)other["encryptionKey"];

        var ex = Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(node.ToJsonString()));

        Assert.Equal(GuardianFormatError.KeyMismatch, ex.Error);
    }

    [Fact]
    public void Parse_refuses_the_signing_key_in_the_encryption_slot()
    {
        var node = JsonNode.Parse(TestGuardians.Owner.ToJson())!.AsObject();
        (node["signingKey"], node["encryptionKey"]) = ((string?)node["encryptionKey"], (string?)node["signingKey"]);

        Assert.Equal(GuardianFormatError.KeyMismatch, Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(node.ToJsonString())).Error);
    }

    [Theory]
    [InlineData("signingKey", "AAAA", GuardianFormatError.InvalidPrivateKey)]
    [InlineData("signingKey", "%%%", GuardianFormatError.InvalidBase64)]
    [InlineData("kind", "openhgs-guardian-metadata", GuardianFormatError.WrongKind)]
    [InlineData("extra", "x", GuardianFormatError.UnknownField)]
    public void Parse_names_the_reason(string member, string value, GuardianFormatError expected)
    {
        var node = JsonNode.Parse(TestGuardians.Owner.ToJson())!.AsObject();
        node[member] = value;

        Assert.Equal(expected, Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(node.ToJsonString())).Error);
    }

    [Fact]
    public void Parse_refuses_public_metadata_and_broken_nested_metadata()
    {
        Assert.Equal(GuardianFormatError.WrongKind, Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(TestGuardians.Owner.Metadata.ToJson())).Error);

        var node = JsonNode.Parse(TestGuardians.Owner.ToJson())!.AsObject();
        node["metadata"]!["wrapAlgorithms"] = new JsonArray("A256KW");
        Assert.Equal(GuardianFormatError.UnknownWrapAlgorithm, Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(node.ToJsonString())).Error);

        node.Remove("metadata");
        Assert.Equal(GuardianFormatError.MissingField, Assert.Throws<GuardianFormatException>(() => LocalGuardian.Parse(node.ToJsonString())).Error);
    }

    [Fact]
    public void Accepts_hsm_style_keys_but_cannot_export_them()
    {
        var signingKey = NonExportableRsa.Create2048();
        var encryptionKey = NonExportableRsa.Create2048();
        using var guardian = TestGuardians.Make("HSM tenant", ["RSA-OAEP-256"], signingKey, encryptionKey);

        Assert.Same(signingKey, guardian.SigningKey);
        Assert.Throws<CryptographicException>(() => guardian.ToJson());
    }

    [Fact]
    public void Constructor_refuses_a_key_for_another_certificate()
    {
        using var stranger = TestKeys.Next();
        var metadata = TestGuardians.FabricA.Metadata;

        var ex = Assert.Throws<GuardianFormatException>(() => new LocalGuardian(metadata, stranger, TestGuardians.FabricA.EncryptionKey));

        Assert.Equal(GuardianFormatError.KeyMismatch, ex.Error);
    }

    [Fact]
    public void Create_refuses_an_invalid_name() =>
        Assert.Throws<ArgumentException>(() => LocalGuardian.Create("bad\u0000name", TimeProvider.System));
}
