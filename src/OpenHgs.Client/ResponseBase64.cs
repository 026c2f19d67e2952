using OpenHgs.Protocol;

namespace OpenHgs.Client;

/// <summary>
/// The one decoder of base64 fields in the service's answers. The service writes each value in exactly one spelling
/// (padded standard base64, or unpadded base64url for nonces), so anything else — missing, whitespace, other padding
/// bits — is not its answer: a <c>ResponseMalformed</c> naming the field, never a bare <see cref="FormatException"/>.
/// </summary>
internal static class ResponseBase64
{
    public const string Code = "ResponseMalformed";

    /// <summary>Canonical padded standard base64 (<see cref="CanonicalBase64"/>).</summary>
    public static byte[] Decode(string? text, string field) =>
        !string.IsNullOrEmpty(text) && CanonicalBase64.TryDecode(text, out byte[]? data)
            ? data
            : throw Malformed(text, field, "base64");

    /// <summary>Strict unpadded base64url (<see cref="Base64Url"/>).</summary>
    public static byte[] DecodeUrl(string? text, string field) =>
        !string.IsNullOrEmpty(text) && Base64Url.TryDecode(text, out byte[]? data)
            ? data
            : throw Malformed(text, field, "unpadded base64url");

    private static HgsClientException Malformed(string? text, string field, string encoding) =>
        new(Code, string.IsNullOrEmpty(text)
            ? $"The service's answer has no {field}."
            : $"The service's {field} is not canonical {encoding}.");
}
