using System.Buffers.Binary;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Tests.Support;

namespace OpenHgs.Service.Tests.Attestation;

/// <summary>
/// Stateless AK activation credentials (design change 74): a credential opens only for the EK and AK it was issued for,
/// by a node holding the fabric's row-MAC key, before its expiry; any other is refused by name.
/// </summary>
public sealed class ActivationCredentialsTests : IDisposable
{
    private static readonly byte[] Ek = [1, 2, 3, 4];
    private static readonly byte[] Ak = [5, 6, 7, 8];
    private readonly SoftwareRowKey _rows = new();
    private readonly SettableTime _time = new();

    public void Dispose() => _rows.Dispose();

    [Fact]
    public void A_credential_opens_for_its_ek_and_ak_on_any_node_of_the_fabric_with_its_expiry()
    {
        var (credential, expiresAt) = new ActivationCredentials(_rows.Authenticator, _time).Issue(Ek, Ak);
        Assert.Equal(ActivationCredentials.CredentialBytes, credential.Length);
        Assert.Equal(_time.Now + ActivationCredentials.Lifetime, expiresAt, TimeSpan.FromSeconds(1));
        Assert.Equal(expiresAt, new ActivationCredentials(_rows.Authenticator, _time).Open(credential, Ek, Ak));
    }

    [Fact]
    public void A_credential_for_another_ek_or_ak_a_changed_byte_or_another_fabric_is_invalid()
    {
        var credentials = new ActivationCredentials(_rows.Authenticator, _time);
        var (credential, _) = credentials.Issue(Ek, Ak);
        using var otherFabric = new SoftwareRowKey();
        byte[] longer = [.. credential, 0];
        byte[] laterExpiry = [.. credential];
        BinaryPrimitives.WriteUInt32BigEndian(laterExpiry.AsSpan(ActivationCredentials.RandomBytes), uint.MaxValue);

        Assert.All(
            new Action[]
            {
                () => _ = credentials.Open(credential, [9, 9], Ak),
                () => _ = credentials.Open(credential, Ek, [9, 9]),
                () => _ = credentials.Open(laterExpiry, Ek, Ak),
                () => _ = credentials.Open(longer, Ek, Ak),
                () => _ = credentials.Open(credential[..^1], Ek, Ak),
                () => _ = new ActivationCredentials(otherFabric.Authenticator, _time).Open(credential, Ek, Ak),
            },
            open => Assert.Equal("ActivationInvalid", Assert.Throws<ServiceException>(open).Code));
    }

    [Fact]
    public void A_credential_past_its_lifetime_is_expired_and_the_message_says_when()
    {
        var credentials = new ActivationCredentials(_rows.Authenticator, _time);
        var (credential, expiresAt) = credentials.Issue(Ek, Ak);
        _time.Now += ActivationCredentials.Lifetime + TimeSpan.FromSeconds(2);
        var expired = Assert.Throws<ServiceException>(() => credentials.Open(credential, Ek, Ak));
        Assert.Equal("ActivationExpired", expired.Code);
        Assert.Contains(expiresAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture), expired.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_used_key_of_a_credential_is_not_the_hash_an_attestation_nonce_of_the_same_bytes_would_have()
    {
        var (credential, _) = new ActivationCredentials(_rows.Authenticator, _time).Issue(Ek, Ak);
        Assert.NotEqual(new OpenHgs.Service.Attestation.OpenedNonce(credential, null, null).Hash, ActivationCredentials.UsedKey(credential));
        Assert.Equal(64, ActivationCredentials.UsedKey(credential).Length);
    }

    private sealed class SettableTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.FromUnixTimeSeconds(1_780_000_000);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
