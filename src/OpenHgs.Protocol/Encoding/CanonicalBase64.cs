using System.Buffers;
using System.Diagnostics.CodeAnalysis;

// In the root namespace for the reason Base64Url.cs gives.
namespace OpenHgs.Protocol;

/// <summary>
/// Strict standard base64 (RFC 4648 §4) with padding: the spelling <see cref="Convert.ToBase64String(byte[])"/> writes,
/// and only that.
/// </summary>
/// <remarks>
/// Security contract: each byte string has exactly one accepted spelling. Refused: whitespace (which
/// <see cref="Convert.FromBase64String"/> skips), missing or extra padding, padding anywhere but the end, characters
/// outside <c>A–Z a–z 0–9 + /</c>, and non-zero unused bits before the padding. Signed or fingerprinted documents
/// (guardian metadata) and the service's answers are read with it, so a value cannot be re-spelled unnoticed.
/// Checked directly, not by re-encoding, as <see cref="Base64Url"/> does.
/// </remarks>
public static class CanonicalBase64
{
    private static readonly SearchValues<char> Alphabet = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

    /// <summary>Decodes canonical padded base64; false (and no data) on any other spelling. The empty string is zero bytes.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, [NotNullWhen(true)] out byte[]? data)
    {
        data = null;
        if (text.Length % 4 != 0)
        {
            return false;
        }

        int padding = text.EndsWith("==") ? 2 : text.EndsWith("=") ? 1 : 0;
        var body = text[..^padding];
        if (body.ContainsAnyExcept(Alphabet) || !HasZeroUnusedBits(body, padding))
        {
            return false;
        }

        var decoded = new byte[(text.Length / 4 * 3) - padding];
        if (!Convert.TryFromBase64Chars(text, decoded, out int written) || written != decoded.Length)
        {
            return false;
        }

        data = decoded;
        return true;
    }

    /// <summary>Before one '=' the last character carries 2 unused bits, before "==" 4; they must be zero.</summary>
    private static bool HasZeroUnusedBits(ReadOnlySpan<char> body, int padding)
    {
        int spare = padding switch { 1 => 0b11, 2 => 0b1111, _ => 0 };
        return spare == 0 || (Value(body[^1]) & spare) == 0;
    }

    private static int Value(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= 'a' and <= 'z' => c - 'a' + 26,
        >= '0' and <= '9' => c - '0' + 52,
        '+' => 62,
        _ => 63,
    };
}
