namespace OpenHgs.Service.Tests.Errors;

/// <summary>The request field decoder's bounds are exact: the limit in bytes, not in base64 groups.</summary>
public sealed class RequestBase64Tests
{
    [Theory]
    [InlineData(8, 8)]
    [InlineData(9, 9)]
    [InlineData(9, 1)]
    public void A_field_at_or_under_its_limit_decodes(int limit, int length)
    {
        byte[] value = [.. Enumerable.Range(1, length).Select(i => (byte)i)];
        Assert.Equal(value, RequestBase64.Decode(Convert.ToBase64String(value), "field", limit, RequestFieldRefusals.Release));
    }

    [Theory]
    [InlineData(8, 9)]    // 12 characters, as many as 8 bytes take: only the decoded length tells
    [InlineData(7, 9)]
    [InlineData(8, 40)]   // refused by its length before decoding
    public void A_field_over_its_limit_is_refused_as_too_large_naming_it(int limit, int length)
    {
        string text = Convert.ToBase64String(new byte[length]);
        var refused = Assert.Throws<ServiceException>(() => RequestBase64.Decode(text, "wrappedKey", limit, RequestFieldRefusals.Release));
        Assert.Equal("RequestTooLarge", refused.Code);
        Assert.Equal(ProblemKind.PayloadTooLarge, refused.Kind);
        Assert.Equal($"wrappedKey: larger than {limit} bytes.", refused.Message);
    }

    [Fact]
    public void Evidence_fields_over_their_limit_are_refused_as_malformed_evidence()
    {
        var refused = Assert.Throws<ServiceException>(() => RequestBase64.Decode(Convert.ToBase64String(new byte[9]), "quote", 8, RequestFieldRefusals.Evidence));
        Assert.Equal(("EvidenceMalformed", ProblemKind.BadRequest), (refused.Code, refused.Kind));
    }
}
