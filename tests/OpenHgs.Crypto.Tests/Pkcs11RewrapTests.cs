using System.Security.Cryptography;

namespace OpenHgs.Crypto.Tests;

/// <summary>HSM-native re-wrap on real SoftHSM2: the secret is checked and re-wrapped without leaving the token.</summary>
public sealed class Pkcs11RewrapTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private static readonly byte[] Payload = "key protector payload bytes"u8.ToArray();

    [Fact]
    public void SoftHsm_rewraps_with_oaep_sha1_only_as_probed()
    {
        Assert.True(fixture.Store.CanRewrap(OaepHash.Sha1, OaepHash.Sha1));
        Assert.Equal(fixture.Store.Capabilities.OaepSha256, fixture.Store.CanRewrap(OaepHash.Sha256, OaepHash.Sha256));
    }

    [Fact]
    public void Rewrap_returns_the_secrets_mac_and_a_wrapping_only_the_target_can_open()
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        using var kps = PublicKey(fixture.RsaDecrypt);
        using var host = RSA.Create(2048);
        var result = fixture.Store.Rewrap(new RewrapRequest(
            fixture.RsaDecrypt.Label, kps.Encrypt(secret, RSAEncryptionPadding.OaepSHA1), OaepHash.Sha1, Payload, host.ExportSubjectPublicKeyInfo(), OaepHash.Sha1));

        Assert.Equal(HMACSHA256.HashData(secret, Payload), result.Mac);
        Assert.Equal(secret, host.Decrypt(result.Rewrapped, RSAEncryptionPadding.OaepSHA1));
    }

    [Fact]
    public void Corrupted_wrapped_secret_is_the_callers_error_not_an_outage()
    {
        using var kps = PublicKey(fixture.RsaDecrypt);
        using var host = RSA.Create(2048);
        byte[] wrapped = kps.Encrypt(RandomNumberGenerator.GetBytes(32), RSAEncryptionPadding.OaepSHA1);
        wrapped[10] ^= 0xFF;
        var error = Assert.Throws<KeyStoreOperationException>(() => fixture.Store.Rewrap(new RewrapRequest(
            fixture.RsaDecrypt.Label, wrapped, OaepHash.Sha1, Payload, host.ExportSubjectPublicKeyInfo(), OaepHash.Sha1)));
        Assert.Contains("could not unwrap", error.Message, StringComparison.Ordinal);


        // The store still works afterwards (no session or object was left behind in a bad state).
        Rewrap_returns_the_secrets_mac_and_a_wrapping_only_the_target_can_open();
    }

    [Fact]
    public void Sign_only_key_cannot_rewrap()
    {
        using var host = RSA.Create(2048);
        var error = Assert.Throws<KeyStoreOperationException>(() => fixture.Store.Rewrap(new RewrapRequest(
            fixture.RsaSign.Label, new byte[256], OaepHash.Sha1, Payload, host.ExportSubjectPublicKeyInfo(), OaepHash.Sha1)));
        Assert.Contains("may not be used to decrypt", error.Message, StringComparison.Ordinal);
    }

    private static RSA PublicKey(StoredKey key)
    {
        var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        return rsa;
    }
}
