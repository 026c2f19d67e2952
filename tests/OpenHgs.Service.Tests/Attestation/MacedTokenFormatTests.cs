using System.Buffers.Text;
using System.Security.Cryptography;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Attestation;

/// <summary>
/// Known answers for the two MACed tokens' wire formats (a challenge nonce and an AK activation credential), under a
/// fixed row-MAC key: tokens made by an independent computation of the documented layout (random ‖ expiresAt ‖
/// HMAC-SHA256/128 under the key derived for the token's domain) must open, so a refactoring cannot change the bytes a
/// node of an older release issued or accepts.
/// </summary>
public sealed class MacedTokenFormatTests
{
    /// <summary>HMAC-SHA256 under the 32 bytes 00 01 … 1f, as a key store's row-MAC key would compute it.</summary>
    internal sealed class FixedRowKey : IRowAuthenticator
    {
        private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

        public byte[] Compute(byte[] canonicalRow) => HMACSHA256.HashData(Key, canonicalRow);

        public bool Verify(byte[] canonicalRow, byte[] mac) => CryptographicOperations.FixedTimeEquals(Compute(canonicalRow), mac);
    }

    internal sealed class FixedTime(long unixSeconds) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
    }

    private const long ExpiresAt = 1_780_000_300;

    // random 00112233445566778899aabb, expiresAt 1780000300 (6a18a62c), then the MAC; computed outside .NET (Python's hmac).
    private const string ChallengeNonce = "00112233445566778899aabb6a18a62c1a6861d24a06ca2d3756b71c73bb9635";

    // The same random and expiry, for EK public 01020304 and AK public 05060708.
    private const string ActivationCredential = "00112233445566778899aabb6a18a62c35f1c3150e982b1e5c07846ebad4d8f3";

    [Fact]
    public void A_challenge_nonce_of_the_documented_layout_opens_with_its_expiry()
    {
        using var database = TestDatabase.Sqlite("openhgs-kat-");
        using var handle = database.Open();
        var challenges = new AttestationChallenges(new FixedRowKey(), handle, new FixedTime(ExpiresAt));
        var opened = challenges.Open(Base64Url.EncodeToString(Convert.FromHexString(ChallengeNonce)));
        Assert.Null(opened.Failure);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(ExpiresAt), opened.ExpiresAt);

        // The activation credential's bytes are no nonce: another domain, so another key and another MAC.
        Assert.Equal(AttestationFailureCode.NonceUnknown, challenges.Open(Base64Url.EncodeToString(Convert.FromHexString(ActivationCredential))).Failure?.Code);
    }

    [Fact]
    public void An_activation_credential_of_the_documented_layout_opens_for_its_ek_and_ak_with_its_expiry()
    {
        var credentials = new ActivationCredentials(new FixedRowKey(), new FixedTime(ExpiresAt));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(ExpiresAt), credentials.Open(Convert.FromHexString(ActivationCredential), [1, 2, 3, 4], [5, 6, 7, 8]));

        // A nonce's bytes are no credential, and the EK and AK are part of what the MAC covers.
        Assert.Equal("ActivationInvalid", Assert.Throws<ServiceException>(() => credentials.Open(Convert.FromHexString(ChallengeNonce), [1, 2, 3, 4], [5, 6, 7, 8])).Code);
        Assert.Equal("ActivationInvalid", Assert.Throws<ServiceException>(() => credentials.Open(Convert.FromHexString(ActivationCredential), [5, 6, 7, 8], [1, 2, 3, 4])).Code);
    }
}
