using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>Structural checks of <see cref="KeyProtector.Parse"/>: strict format, limits, versions, algorithms.</summary>
public sealed class KeyProtectorParseTests
{
    private static readonly Lazy<(KeyProtector Kp, byte[] TransportKey)> Shared = new(TestGuardians.NewKeyProtector);

    private static KeyProtector Kp => Shared.Value.Kp;

    private static KeyProtectorError ParseError(byte[] json) => Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(json)).Error;

    private static byte[] EditEnvelope(Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(Kp.ToJson())!.AsObject();
        edit(node);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }

    /// <summary>Edits the payload JSON and re-encodes it (signatures left as they were: parsing does not check them).</summary>
    private static byte[] EditPayload(Action<JsonObject> edit) => EditEnvelope(envelope =>
    {
        var payload = JsonNode.Parse(Kp.Payload.Span)!.AsObject();
        edit(payload);
        envelope["payload"] = Base64Url.Encode(Encoding.UTF8.GetBytes(payload.ToJsonString()));
    });

    private static JsonObject Wrapping(JsonObject payload, int index) => payload["wrappings"]![index]!.AsObject();

    [Fact]
    public void The_wire_form_has_exactly_the_documented_members()
    {
        var envelope = JsonNode.Parse(Kp.ToJson())!.AsObject();
        Assert.Equal(["version", "payload", "guardianSignature", "transportKeySignature"], envelope.Select(p => p.Key));
        Assert.Equal(["wrappingId", "alg", "value"], envelope["guardianSignature"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["alg", "value"], envelope["transportKeySignature"]!.AsObject().Select(p => p.Key));

        var payload = JsonNode.Parse(Base64Url.Decode((string)envelope["payload"]!))!.AsObject();
        Assert.Equal(["wrappings"], payload.Select(p => p.Key));
        var owner = Wrapping(payload, 0);
        Assert.Equal(["id", "parentId", "guardianName", "signingCertificate", "encryptionCertificate", "endorsement", "wrappedKey"], owner.Select(p => p.Key));
        Assert.Null(owner["parentId"]);
        Assert.Equal("RS256", (string?)owner["endorsement"]!["alg"]);
        Assert.Equal(256, Base64Url.Decode((string)owner["wrappedKey"]!["value"]!).Length);
    }

    [Fact]
    [Trait("Attack", "A47")]
    public void Oversized_input_is_refused_before_parsing()
    {
        byte[] json = Kp.ToJson();
        byte[] padded = new byte[KeyProtector.MaxBytes + 1];
        padded.AsSpan().Fill((byte)' ');
        json.CopyTo(padded, 0);

        Assert.Equal(KeyProtectorError.Oversized, ParseError(padded));

        // Exactly at the limit is fine.
        Assert.NotNull(KeyProtector.Parse(padded.AsSpan(0, KeyProtector.MaxBytes)));
    }

    [Fact]
    [Trait("Attack", "A47")]
    public void More_than_64_wrappings_is_Oversized()
    {
        byte[] json = EditPayload(payload =>
        {
            var wrappings = payload["wrappings"]!.AsArray();
            var template = wrappings[1]!.ToJsonString();
            while (wrappings.Count <= KeyProtector.MaxWrappings)
            {
                wrappings.Add(JsonNode.Parse(template));
            }
        });

        Assert.Equal(KeyProtectorError.Oversized, ParseError(json));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(-1)]
    [InlineData(1.5)]
    public void Other_versions_are_UnsupportedVersion(double version) =>
        Assert.Equal(KeyProtectorError.UnsupportedVersion, ParseError(EditEnvelope(n => n["version"] = version)));

    [Fact]
    public void A_future_version_with_unknown_members_is_still_UnsupportedVersion() =>
        Assert.Equal(KeyProtectorError.UnsupportedVersion, ParseError(EditEnvelope(n =>
        {
            n["version"] = 3;
            n["newThing"] = true;
        })));

    public static TheoryData<string, byte[]> MalformedInputs() => new()
    {
        { "empty", [] },
        { "not JSON", "hello"u8.ToArray() },
        { "array", "[]"u8.ToArray() },
        { "trailing comma", Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Kp.ToJson()).TrimEnd().TrimEnd('}') + ",}") },
        { "version as string", EditEnvelope(n => n["version"] = "1") },
        { "missing version", EditEnvelope(n => n.Remove("version")) },
        { "missing transport key signature", EditEnvelope(n => n.Remove("transportKeySignature")) },
        { "unknown envelope member", EditEnvelope(n => n["comment"] = "x") },
        { "unknown signature member", EditEnvelope(n => n["guardianSignature"]!["kid"] = "x") },
        { "padded payload", EditEnvelope(n => n["payload"] = (string)n["payload"]! + "=") },
        { "standard base64 alphabet in payload", EditEnvelope(n => n["payload"] = "+" + ((string)n["payload"]!)[1..]) },
        { "invalid UTF-8 in payload", EditEnvelope(n => n["payload"] = Base64Url.Encode([.. "{\"wrappings\":[{\""u8, 0xF7, .. "\":1}]}"u8])) },
        { "payload not JSON", EditEnvelope(n => n["payload"] = Base64Url.Encode("nope"u8)) },
        { "short HMAC", EditEnvelope(n => n["transportKeySignature"]!["value"] = Base64Url.Encode(new byte[31])) },
        { "empty guardian signature", EditEnvelope(n => n["guardianSignature"]!["value"] = "") },
        { "bad wrapping id", EditEnvelope(n => n["guardianSignature"]!["wrappingId"] = "not/base64url") },
        { "wrapping id with padding", EditPayload(p => Wrapping(p, 1)["id"] = "AAAA==") },
        { "unknown payload member", EditPayload(p => p["note"] = 1) },
        { "unknown wrapping member", EditPayload(p => Wrapping(p, 1)["x5c"] = "x") },
        { "missing parentId", EditPayload(p => Wrapping(p, 1).Remove("parentId")) },
        { "missing wrappedKey", EditPayload(p => Wrapping(p, 1).Remove("wrappedKey")) },
        { "empty id", EditPayload(p => Wrapping(p, 1)["id"] = "") },
        { "long id", EditPayload(p => Wrapping(p, 1)["id"] = new string('A', 65)) },
        { "empty parentId", EditPayload(p => Wrapping(p, 1)["parentId"] = "") },
        { "guardian name with newline", EditPayload(p => Wrapping(p, 1)["guardianName"] = "a\nb") },
        { "certificate not DER", EditPayload(p => Wrapping(p, 1)["signingCertificate"] = Base64Url.Encode([0x30, 0x03, 0x02, 0x01, 0x01])) },
        { "certificate with trailing byte", EditPayload(p => Wrapping(p, 1)["encryptionCertificate"] = Base64Url.Encode([.. Kp.Wrappings[1].EncryptionCertificate, 0])) },
        { "wrapped key too long", EditPayload(p => Wrapping(p, 1)["wrappedKey"]!["value"] = Base64Url.Encode(new byte[1025])) },
        { "wrappings not an array", EditPayload(p => p["wrappings"] = new JsonObject()) },
    };

    [Theory]
    [MemberData(nameof(MalformedInputs))]
    public void Malformed_inputs_are_Malformed(string what, byte[] json)
    {
        Assert.NotNull(what);
        Assert.Equal(KeyProtectorError.Malformed, ParseError(json));
    }

    [Fact]
    public void Duplicate_members_are_Malformed()
    {
        string json = Encoding.UTF8.GetString(Kp.ToJson());
        string duplicated = json.Replace("\"version\": 1,", "\"version\": 1, \"version\": 1,", StringComparison.Ordinal);
        Assert.NotEqual(json, duplicated);

        Assert.Equal(KeyProtectorError.Malformed, ParseError(Encoding.UTF8.GetBytes(duplicated)));
    }

    [Theory]
    [InlineData("guardianSignature", "PS256")]
    [InlineData("guardianSignature", "rs256")]
    [InlineData("guardianSignature", "none")]
    [InlineData("transportKeySignature", "HS512")]
    public void Other_signature_algorithms_are_UnsupportedAlgorithm(string member, string algorithm) =>
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, ParseError(EditEnvelope(n => n[member]!["alg"] = algorithm)));

    [Theory]
    [InlineData("wrappedKey", "RSA1_5")]
    [InlineData("wrappedKey", "A256KW")]
    [InlineData("wrappedKey", "rsa-oaep-256")]
    [InlineData("endorsement", "ES256")]
    public void Other_wrapping_algorithms_are_UnsupportedAlgorithm(string member, string algorithm) =>
        Assert.Equal(KeyProtectorError.UnsupportedAlgorithm, ParseError(EditPayload(p => Wrapping(p, 1)[member]!["alg"] = algorithm)));

    [Fact]
    public void An_unknown_signer_is_GuardianSignerUnknown() =>
        Assert.Equal(KeyProtectorError.GuardianSignerUnknown, ParseError(EditEnvelope(n => n["guardianSignature"]!["wrappingId"] = Forge.NewId())));

    [Fact]
    public void A_null_signer_is_Malformed() =>
        Assert.Equal(KeyProtectorError.Malformed, ParseError(EditEnvelope(n => n["guardianSignature"]!["wrappingId"] = null)));

    [Fact]
    public void Lookups_find_wrappings_by_certificate_name_and_id()
    {
        var fabricA = Kp.FindWrappingForGuardian("Fabric A")!;

        Assert.Same(fabricA, Kp.FindWrappingForEncryptionCertificate(TestGuardians.FabricA.Metadata.EncryptionCertificate));
        Assert.Same(fabricA, Kp.FindWrapping(fabricA.Id));
        Assert.Null(Kp.FindWrappingForEncryptionCertificate(TestGuardians.FabricA.Metadata.SigningCertificate));
        Assert.Null(Kp.FindWrappingForEncryptionCertificate([]));
        Assert.Null(Kp.FindWrapping("nope"));
        Assert.Same(Kp.Owner, Kp.FindWrappingForGuardian("Contoso Tenant"));
    }
}
