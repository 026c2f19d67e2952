using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

public sealed class GuardianMetadataTests
{
    [Fact]
    public void Round_trips_through_json()
    {
        var metadata = TestGuardians.FabricA.Metadata;
        string json = metadata.ToJson();

        var node = JsonNode.Parse(json)!.AsObject();
        Assert.Equal("openhgs-guardian-metadata", (string?)node["kind"]);
        Assert.Equal(1, (int?)node["version"]);
        Assert.Equal(Convert.ToBase64String(metadata.SigningCertificate), (string?)node["signingCertificate"]);
        Assert.Contains("\n", json, StringComparison.Ordinal); // indented

        var parsed = GuardianMetadata.Parse(json);
        Assert.Equal(metadata.Name, parsed.Name);
        Assert.Equal(metadata.SigningCertificate, parsed.SigningCertificate);
        Assert.Equal(metadata.EncryptionCertificate, parsed.EncryptionCertificate);
        Assert.Equal(["RSA-OAEP-256", "RSA-OAEP"], parsed.WrapAlgorithms);
        Assert.Equal(json, parsed.ToJson());
    }

    [Fact]
    public void Keeps_names_that_need_escaping()
    {
        var guardian = TestGuardians.Make("Fabrikam \"Ost\" <Zürich>", ["RSA-OAEP"]);
        Assert.Equal("Fabrikam \"Ost\" <Zürich>", GuardianMetadata.Parse(guardian.Metadata.ToJson()).Name);
    }

    public static TheoryData<string, GuardianFormatError> BadDocuments()
    {
        var a = TestGuardians.FabricA.Metadata;
        var b = TestGuardians.FabricB.Metadata;
        string With(Action<JsonObject> edit)
        {
            var node = JsonNode.Parse(a.ToJson())!.AsObject();
            edit(node);
            return node.ToJsonString();
        }

        using var smallKey = RSA.Create(1024);
        byte[] smallEncryptionCert = IssueWith(TestGuardians.FabricA.SigningKey, a.SigningCertificate, smallKey);

        return new TheoryData<string, GuardianFormatError>
        {
            { "{", GuardianFormatError.Malformed },
            { "[]", GuardianFormatError.Malformed },
            { With(n => n["name"] = 5), GuardianFormatError.Malformed },
            { With(n => n["wrapAlgorithms"] = new JsonArray(1)), GuardianFormatError.Malformed },
            { a.ToJson().Replace("\"version\": 1", "\"version\": 1, \"version\": 1", StringComparison.Ordinal), GuardianFormatError.Malformed },
            { With(n => n["name"] = new string('x', 70 * 1024)), GuardianFormatError.Oversized },
            { With(n => n["kind"] = "openhgs-guardian-private"), GuardianFormatError.WrongKind },
            { With(n => n["version"] = 2), GuardianFormatError.UnsupportedVersion },
            { With(n => n.Remove("name")), GuardianFormatError.MissingField },
            { With(n => n.Remove("wrapAlgorithms")), GuardianFormatError.MissingField },
            { With(n => n["comment"] = "hi"), GuardianFormatError.UnknownField },
            { With(n => n["name"] = ""), GuardianFormatError.InvalidName },
            { With(n => n["name"] = "tab\there"), GuardianFormatError.InvalidName },
            { With(n => n["name"] = " padded"), GuardianFormatError.InvalidName },
            { With(n => n["signingCertificate"] = "not base64!"), GuardianFormatError.InvalidBase64 },
            { With(n => n["signingCertificate"] = Convert.ToBase64String(a.SigningCertificate).Insert(8, " ")), GuardianFormatError.InvalidBase64 },
            { With(n => n["signingCertificate"] = Base64Url.Encode(a.SigningCertificate)), GuardianFormatError.InvalidBase64 },
            { With(n => n["signingCertificate"] = Convert.ToBase64String([1, 2, 3])), GuardianFormatError.InvalidCertificate },
            { With(n => n["encryptionCertificate"] = Convert.ToBase64String([.. a.EncryptionCertificate, 0])), GuardianFormatError.InvalidCertificate },
            { With(n => n["encryptionCertificate"] = Convert.ToBase64String(smallEncryptionCert)), GuardianFormatError.UnsupportedKey },
            { With(n => n["signingCertificate"] = Convert.ToBase64String(a.EncryptionCertificate)), GuardianFormatError.SigningCertificateNotSelfSigned },
            { With(n => n["encryptionCertificate"] = Convert.ToBase64String(b.EncryptionCertificate)), GuardianFormatError.EncryptionCertificateNotSignedBySigningCertificate },
            { With(n => n["wrapAlgorithms"] = new JsonArray("RSA1_5")), GuardianFormatError.UnknownWrapAlgorithm },
            { With(n => n["wrapAlgorithms"] = new JsonArray("rsa-oaep")), GuardianFormatError.UnknownWrapAlgorithm },
            { With(n => n["wrapAlgorithms"] = new JsonArray()), GuardianFormatError.InvalidWrapAlgorithms },
            { With(n => n["wrapAlgorithms"] = new JsonArray("RSA-OAEP", "RSA-OAEP")), GuardianFormatError.InvalidWrapAlgorithms },
        };
    }

    [Theory]
    [MemberData(nameof(BadDocuments))]
    public void Parse_names_the_reason(string json, GuardianFormatError expected)
    {
        var ex = Assert.Throws<GuardianFormatException>(() => GuardianMetadata.Parse(json));
        Assert.Equal(expected, ex.Error);
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }

    [Fact]
    public void Validate_checks_a_record_built_in_code()
    {
        var a = TestGuardians.FabricA.Metadata;
        Assert.Equal(GuardianFormatError.InvalidCertificate, Assert.Throws<GuardianFormatException>(() => (a with { SigningCertificate = [] }).Validate()).Error);
        Assert.Equal(GuardianFormatError.EncryptionCertificateNotSignedBySigningCertificate, Assert.Throws<GuardianFormatException>(() => (a with { EncryptionCertificate = TestGuardians.FabricB.Metadata.EncryptionCertificate }).Validate()).Error);
        Assert.Equal(GuardianFormatError.InvalidWrapAlgorithms, Assert.Throws<GuardianFormatException>(() => (a with { WrapAlgorithms = [] }).Validate()).Error);
    }

    /// <summary>An encryption certificate for <paramref name="subjectKey"/> signed by a guardian's signing key.</summary>
    private static byte[] IssueWith(RSA issuerKey, byte[] issuerCertificate, RSA subjectKey)
    {
        using var issuer = X509CertificateLoader.LoadCertificate(issuerCertificate);
        var request = new CertificateRequest("CN=Small", subjectKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var generator = X509SignatureGenerator.CreateForRSA(issuerKey, RSASignaturePadding.Pkcs1);
        using var certificate = request.Create(issuer.SubjectName, generator, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        return certificate.RawData;
    }
}
