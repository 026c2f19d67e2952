using OpenHgs.Client;

namespace OpenHgs.Service.Tests.Client;

/// <summary>The client's decoder of base64 fields in service answers: the one spelling the service writes, else ResponseMalformed naming the field.</summary>
public sealed class ResponseBase64Tests
{
    [Fact]
    public void What_the_service_writes_decodes()
    {
        byte[] data = [0xfb, 0xff, 0x01, 0x02];
        Assert.Equal(data, ResponseBase64.Decode(Convert.ToBase64String(data), "transportKey"));
        Assert.Equal(data, ResponseBase64.DecodeUrl(System.Buffers.Text.Base64Url.EncodeToString(data), "nonce"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not base64!")]
    [InlineData("AAEC AwQF")]     // whitespace: Convert.FromBase64String accepts it
    [InlineData("AAECAwQF\n")]
    [InlineData("AAECAwR=")]      // non-zero padding bits: a second spelling of AAECAwQ=
    [InlineData("-_8")]           // base64url where standard base64 is due
    public void Anything_else_is_ResponseMalformed_naming_the_field(string? text)
    {
        var refused = Assert.Throws<HgsClientException>(() => ResponseBase64.Decode(text, "healthCertificate"));
        Assert.Equal("ResponseMalformed", refused.Code);
        Assert.Contains("healthCertificate", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("AAEC+/8=")]      // standard base64 with padding where unpadded base64url is due
    [InlineData("AAECAw==")]
    [InlineData("AAECAx")]        // non-zero unused bits
    public void A_nonce_must_be_strict_unpadded_base64url(string? text)
    {
        var refused = Assert.Throws<HgsClientException>(() => ResponseBase64.DecodeUrl(text, "nonce"));
        Assert.Equal("ResponseMalformed", refused.Code);
        Assert.Contains("nonce", refused.Message, StringComparison.Ordinal);
    }
}
