using System.Buffers;
using System.Diagnostics.CodeAnalysis;

// Deliberately in the root namespace rather than OpenHgs.Protocol.Encoding: a namespace named "Encoding" under
// OpenHgs.Protocol would shadow System.Text.Encoding for every file in OpenHgs.Protocol.* (Encoding.UTF8 would
// stop compiling there). In OpenHgs.Protocol.* this class in turn shadows System.Buffers.Text.Base64Url, so it
// also offers that class's two common members (EncodeToString, DecodeFromChars), strict.
namespace OpenHgs.Protocol;

/// <summary>
/// Strict base64url (RFC 4648 §5) without padding, as used by JWS and by the key protector format.
/// </summary>
/// <remarks>
/// Security contract: decoding accepts exactly one spelling for each byte string. It rejects padding,
/// whitespace, characters outside <c>A–Z a–z 0–9 - _</c>, impossible lengths (length mod 4 = 1) and
/// non-zero unused trailing bits, so a signed document cannot be re-spelled without changing its bytes.
/// </remarks>
public static class Base64Url
{
    /// <summary>Encodes <paramref name="data"/> as unpadded base64url.</summary>
    public static string Encode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    /// <summary>Same as <see cref="Encode"/> (the name <c>System.Buffers.Text.Base64Url</c> uses).</summary>
    public static string EncodeToString(ReadOnlySpan<byte> data) => Encode(data);

    /// <summary>Decodes strict unpadded base64url; throws <see cref="FormatException"/> on anything else.</summary>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return DecodeFromChars(text);
    }

    /// <summary>Same as <see cref="Decode"/> (the name <c>System.Buffers.Text.Base64Url</c> uses), but strict.</summary>
    public static byte[] DecodeFromChars(ReadOnlySpan<char> text) =>
        TryDecode(text, out byte[]? data)
            ? data
            : throw new FormatException("The value is not strict unpadded base64url.");

    /// <summary>Decodes strict unpadded base64url; false (and no data) on anything else.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, [NotNullWhen(true)] out byte[]? data)
    {
        data = null;
        if (text.Length % 4 == 1 || text.ContainsAnyExcept(Alphabet) || !HasZeroUnusedBits(text))
        {
            return false;
        }

        try
        {
            data = System.Buffers.Text.Base64Url.DecodeFromChars(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>True for the 64 characters of the base64url alphabet.</summary>
    public static bool IsAlphabet(char c) => Alphabet.Contains(c);

    private const string AlphabetChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    private static readonly SearchValues<char> Alphabet = SearchValues.Create(AlphabetChars);

    /// <summary>
    /// Canonical form: the bits of the last character that carry no data must be zero (4 of them after 2 characters in
    /// the last group, 2 after 3), so each byte string has exactly one spelling. Checked directly rather than by
    /// re-encoding (key protectors carry tens of kilobytes of base64url on every release).
    /// </summary>
    private static bool HasZeroUnusedBits(ReadOnlySpan<char> text)
    {
        int spare = (text.Length % 4) switch { 2 => 0b1111, 3 => 0b11, _ => 0 };
        return spare == 0 || (AlphabetChars.IndexOf(text[^1]) & spare) == 0;
    }
}
