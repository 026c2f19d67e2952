namespace OpenHgs.Service;

/// <summary>
/// How a family of request fields is refused: the code for a missing or malformed value, and the code and kind for
/// one that is too large (evidence answers 400 for both; a release answers 413 for an oversized field).
/// </summary>
public sealed record RequestFieldRefusals(string Malformed, string TooLarge, ProblemKind TooLargeKind)
{
    /// <summary>Attestation and enrolment evidence: <c>EvidenceMalformed</c> (400) for every problem.</summary>
    public static RequestFieldRefusals Evidence { get; } = new("EvidenceMalformed", "EvidenceMalformed", ProblemKind.BadRequest);

    /// <summary>Key release requests: <c>RequestMalformed</c> (400), <c>RequestTooLarge</c> (413).</summary>
    public static RequestFieldRefusals Release { get; } = new("RequestMalformed", "RequestTooLarge", ProblemKind.PayloadTooLarge);
}

/// <summary>
/// The one decoder of standard-base64 request fields: present, bounded by its length before anything is decoded, and
/// valid base64, and at most its limit once decoded — each refused with the field's name and its family's code (<see cref="RequestFieldRefusals"/>).
/// </summary>
public static class RequestBase64
{
    /// <exception cref="ServiceException">Missing, larger than <paramref name="maxBytes"/> once decoded, or not base64.</exception>
    public static byte[] Decode(string? text, string field, int maxBytes, RequestFieldRefusals refusals)
    {
        ArgumentNullException.ThrowIfNull(refusals);
        if (string.IsNullOrEmpty(text))
        {
            throw ServiceException.BadRequest(refusals.Malformed, $"{field}: missing.");
        }

        if (text.Length > (maxBytes + 2) / 3 * 4)
        {
            throw new ServiceException(refusals.TooLargeKind, refusals.TooLarge, $"{field}: larger than {maxBytes} bytes.");
        }

        byte[] decoded;
        try
        {
            decoded = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw ServiceException.BadRequest(refusals.Malformed, $"{field}: not valid base64.");
        }

        // The length check above bounds the work; it admits up to two bytes more than the limit (base64 rounds up to
        // whole groups of three), which the decoded length does not.
        return decoded.Length <= maxBytes
            ? decoded
            : throw new ServiceException(refusals.TooLargeKind, refusals.TooLarge, $"{field}: larger than {maxBytes} bytes.");
    }
}
