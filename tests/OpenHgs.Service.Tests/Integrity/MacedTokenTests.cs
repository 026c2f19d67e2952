using System.Security.Cryptography;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Attestation;

namespace OpenHgs.Service.Tests.Integrity;

/// <summary>
/// The shared stateless token (challenge nonces, activation credentials): it opens only under its own key domain and
/// label, for its own context, whole, and only until its expiry; anything else is named <c>Unknown</c>, a late token
/// <c>Expired</c> with the expiry it carries.
/// </summary>
public sealed class MacedTokenTests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);
    private static readonly byte[] Context = [.. Enumerable.Repeat((byte)0x5a, 64)];
    private readonly MacedTokenFormatTests.FixedRowKey _rows = new();
    private readonly SettableTime _time = new();

    private MacedToken Tokens(string keyDomain = "test-key-v1\0", string macDomain = "test-v1\0") =>
        new(_rows, System.Text.Encoding.ASCII.GetBytes(keyDomain), System.Text.Encoding.ASCII.GetBytes(macDomain), Lifetime, _time);

    [Fact]
    public void Known_answers_the_challenge_and_activation_vectors_open_under_their_domains()
    {
        // The vectors of MacedTokenFormatTests (computed outside .NET), opened by the helper itself.
        _time.Now = DateTimeOffset.FromUnixTimeSeconds(1_780_000_300);
        var challenge = new MacedToken(_rows, "OpenHGS-challenge-mac-key-v1\0"u8, "OpenHGS-challenge-v1\0"u8, Lifetime, _time);
        Assert.Equal((MacedTokenVerdict.Valid, _time.Now), challenge.Open(Convert.FromHexString("00112233445566778899aabb6a18a62c1a6861d24a06ca2d3756b71c73bb9635"), []));

        var activation = new MacedToken(_rows, "OpenHGS-activation-mac-key-v1\0"u8, "OpenHGS-activation-v1\0"u8, Lifetime, _time);
        byte[] context = [.. SHA256.HashData([1, 2, 3, 4]), .. SHA256.HashData([5, 6, 7, 8])];
        Assert.Equal((MacedTokenVerdict.Valid, _time.Now), activation.Open(Convert.FromHexString("00112233445566778899aabb6a18a62c35f1c3150e982b1e5c07846ebad4d8f3"), context));
    }

    [Fact]
    public void An_issued_token_opens_for_its_context_with_its_expiry_rounded_down_to_whole_seconds()
    {
        _time.Now = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_999);
        var (token, expiresAt) = Tokens().Issue(Context);
        Assert.Equal(MacedToken.Bytes, token.Length);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_780_000_300), expiresAt);
        Assert.Equal((MacedTokenVerdict.Valid, expiresAt), Tokens().Open(token, Context));
        Assert.NotEqual(token, Tokens().Issue(Context).Token);
    }

    [Theory]
    [InlineData(0)]    // the random part
    [InlineData(13)]   // the expiry
    [InlineData(16)]   // the MAC's first byte
    [InlineData(31)]   // the MAC's last byte
    public void A_token_with_any_byte_changed_is_unknown(int index)
    {
        var (token, _) = Tokens().Issue(Context);
        token[index] ^= 0x01;
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open(token, Context));
    }

    [Fact]
    public void A_token_for_another_context_key_domain_or_label_or_of_another_length_is_unknown()
    {
        var (token, _) = Tokens().Issue(Context);
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open(token, Context[..^1]));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open(token, []));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens(keyDomain: "test-key-v2\0").Open(token, Context));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens(macDomain: "test-v2\0").Open(token, Context));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open(token[..^1], Context));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open([.. token, 0], Context));
        Assert.Equal((MacedTokenVerdict.Unknown, null), Tokens().Open([], Context));
    }

    [Fact]
    public void A_token_is_valid_up_to_its_expiry_and_expired_after_it_naming_the_expiry()
    {
        var (token, expiresAt) = Tokens().Issue(Context);
        _time.Now = expiresAt;
        Assert.Equal((MacedTokenVerdict.Valid, expiresAt), Tokens().Open(token, Context));
        _time.Now = expiresAt + TimeSpan.FromSeconds(1);
        Assert.Equal((MacedTokenVerdict.Expired, expiresAt), Tokens().Open(token, Context));
    }

    private sealed class SettableTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.FromUnixTimeSeconds(1_780_000_000);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
