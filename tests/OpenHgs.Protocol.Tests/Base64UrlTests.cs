namespace OpenHgs.Protocol.Tests;

public sealed class Base64UrlTests
{
    [Fact]
    public void Round_trips_every_length_and_byte_value()
    {
        for (int length = 0; length <= 40; length++)
        {
            byte[] data = Enumerable.Range(0, length).Select(i => (byte)((i * 73) + 250)).ToArray();
            string text = Base64Url.Encode(data);
            Assert.DoesNotContain('=', text);
            Assert.Equal(data, Base64Url.Decode(text));
        }
    }

    [Fact]
    public void Offers_the_bcl_names_and_agrees_with_the_bcl_on_canonical_input()
    {
        byte[] data = [0xFB, 0xFF, 0x00, 0x3E];
        Assert.Equal(System.Buffers.Text.Base64Url.EncodeToString(data), Base64Url.EncodeToString(data));
        Assert.Equal(data, Base64Url.DecodeFromChars(Base64Url.Encode(data)));
        Assert.Throws<FormatException>(() => Base64Url.DecodeFromChars("-_8A-g=="));
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("AA", "00")]
    [InlineData("AQ", "01")]
    [InlineData("-_8", "FBFF")]
    [InlineData("AAECAwQFBgcICQoLDA0ODw", "000102030405060708090A0B0C0D0E0F")]
    public void Decodes_known_values(string text, string hex) => Assert.Equal(Convert.FromHexString(hex), Base64Url.Decode(text));

    [Theory]
    [InlineData("AA==")] // padding
    [InlineData("A")] // impossible length
    [InlineData("AAAAA")] // impossible length
    [InlineData("+/8")] // standard alphabet
    [InlineData("AA AA")] // whitespace
    [InlineData("AA\n")]
    [InlineData("AB")] // non-zero unused bits: "AB" would decode to 00 but re-encodes as "AA"
    [InlineData("AAF")] // same, 2 spare bits
    [InlineData("ä")]
    public void Rejects_non_strict_spellings(string text)
    {
        Assert.False(Base64Url.TryDecode(text, out _));
        Assert.Throws<FormatException>(() => Base64Url.Decode(text));
    }

    [Fact]
    public void Accepts_exactly_the_spellings_that_re_encode_to_themselves_for_every_short_string()
    {
        // The strict decoder checks unused bits directly; this pins it to the definition (decode, re-encode, compare)
        // over every 2- and 3-character string of the alphabet and a 4-character prefix.
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int accepted = 0;
        foreach (char a in alphabet)
        {
            foreach (char b in alphabet)
            {
                foreach (string text in new[] { $"{a}{b}", $"{a}{b}A", $"{a}{b}z", $"AAAA{a}{b}", $"AAAA{a}{b}_" })
                {
                    bool canonical = ReEncodesToItself(text);
                    Assert.Equal(canonical, Base64Url.TryDecode(text, out byte[]? data));
                    if (canonical)
                    {
                        accepted++;
                        Assert.Equal(System.Buffers.Text.Base64Url.DecodeFromChars(text), data);
                    }
                }
            }
        }

        Assert.True(accepted > 64 * 4, $"only {accepted} accepted");
    }

    private static bool ReEncodesToItself(string text)
    {
        try
        {
            return System.Buffers.Text.Base64Url.EncodeToString(System.Buffers.Text.Base64Url.DecodeFromChars(text)) == text;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
