namespace OpenHgs.Protocol.Tests;

public sealed class CanonicalBase64Tests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("AA==", "00")]
    [InlineData("AQ==", "01")]
    [InlineData("+/8=", "FBFF")]
    [InlineData("+/8A", "FBFF00")]
    [InlineData("AAECAwQFBgcICQoLDA0ODw==", "000102030405060708090A0B0C0D0E0F")]
    public void Decodes_known_values(string text, string hex)
    {
        Assert.True(CanonicalBase64.TryDecode(text, out byte[]? data));
        Assert.Equal(Convert.FromHexString(hex), data);
    }

    [Theory]
    [InlineData("AA")] // padding missing
    [InlineData("AA=")] // padding short
    [InlineData("AA===")] // padding extra
    [InlineData("A===")] // impossible length of data
    [InlineData("AA==AA==")] // padding inside
    [InlineData("-_8=")] // base64url alphabet
    [InlineData("AA AA===")] // whitespace, which Convert.FromBase64String skips
    [InlineData(" AA==")]
    [InlineData("AA==\n")]
    [InlineData("AB==")] // non-zero unused bits: decodes to 00 like "AA=="
    [InlineData("AAF=")] // same, 2 unused bits
    [InlineData("ä===")]
    public void Refuses_every_other_spelling(string text)
    {
        Assert.False(CanonicalBase64.TryDecode(text, out byte[]? data));
        Assert.Null(data);
    }

    [Fact]
    public void Accepts_exactly_the_spellings_Convert_writes_for_every_short_string()
    {
        // Pinned to the definition (decode leniently, re-encode, compare) over every 4-character group ending in one or
        // two '=' and a sample of whole groups: the direct unused-bits check must agree with it everywhere.
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int accepted = 0;
        foreach (char a in alphabet)
        {
            foreach (char b in alphabet)
            {
                accepted += Check($"{a}{b}==") ? 1 : 0;
                foreach (char c in alphabet)
                {
                    accepted += Check($"{a}{b}{c}=") ? 1 : 0;
                }
            }
        }

        Assert.Equal((64 * 4) + (64 * 64 * 16), accepted); // 2 free bits after 2 characters' 12, 4 after 3 characters' 18

        static bool Check(string text)
        {
            bool canonical = Convert.ToBase64String(Convert.FromBase64String(text)) == text;
            Assert.Equal(canonical, CanonicalBase64.TryDecode(text, out _));
            return canonical;
        }
    }
}
