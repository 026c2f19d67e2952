using System.Buffers.Text;
using Microsoft.Data.Sqlite;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Service.Tests.Attestation;

/// <summary>
/// Stateless challenges: a nonce verifies by its MAC and expiry alone (on any node holding the fabric's row-MAC key),
/// issuing one writes nothing, and the attestation's commit is what makes it single-use.
/// </summary>
public sealed class AttestationChallengesTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-challenge-").FullName;
    private readonly SoftwareRowKey _rows = new();
    private readonly MovableTime _time = new();
    private SqliteDatabase _database = null!;
    private AttestationChallenges _challenges = null!;

    public async Task InitializeAsync()
    {
        _database = new SqliteDatabase(Path.Combine(_directory, "hgs.db"), TimeProvider.System, _rows.Authenticator);
        await _database.MigrateAsync(CancellationToken.None);
        _challenges = new AttestationChallenges(_rows.Authenticator, _database, _time);
    }

    public async Task DisposeAsync()
    {
        _database.Dispose();
        await Task.CompletedTask;
        SqliteConnection.ClearAllPools();
        _rows.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Issued_nonce_opens_with_its_expiry_and_nothing_is_written()
    {
        var challenge = _challenges.Issue();
        Assert.Equal(AttestationChallenges.NonceBytes, Base64Url.DecodeFromChars(challenge.Nonce).Length);
        // The nonce is the TPM quote's qualifying data (TPM2B_DATA): at most 34 bytes on a TPM without SHA-384.
        Assert.Equal(32, AttestationChallenges.NonceBytes);
        Assert.Equal(_time.GetUtcNow() + AttestationChallenges.Lifetime, challenge.ExpiresAt, TimeSpan.FromSeconds(1));
        Assert.True(challenge.ExpiresAt <= _time.GetUtcNow() + AttestationChallenges.Lifetime, "the expiry is rounded down, never later than the lifetime");

        var opened = _challenges.Open(challenge.Nonce);
        Assert.Null(opened.Failure);
        Assert.Equal(challenge.ExpiresAt, opened.ExpiresAt);
        Assert.Null(await _challenges.CheckAsync(opened, CancellationToken.None));
        Assert.Equal(0L, await CountUsedAsync());
        Assert.NotEqual(challenge.Nonce, _challenges.Issue().Nonce);
    }

    [Theory]
    [InlineData(0)]    // the random part
    [InlineData(11)]   // the random part's last byte
    [InlineData(14)]   // the expiry (a host extending its nonce's life)
    [InlineData(16)]   // the MAC's first byte
    [InlineData(31)]   // the MAC's last byte
    public void Nonce_with_any_byte_changed_is_unknown(int index)
    {
        byte[] nonce = Base64Url.DecodeFromChars(_challenges.Issue().Nonce);
        nonce[index] ^= 0x01;
        var opened = _challenges.Open(Base64Url.EncodeToString(nonce));
        Assert.Equal(AttestationFailureCode.NonceUnknown, opened.Failure?.Code);
    }

    [Fact]
    public void Nonce_from_another_fabric_is_unknown_and_from_another_node_of_this_one_is_accepted()
    {
        using var otherFabric = new SoftwareRowKey();
        var foreign = new AttestationChallenges(otherFabric.Authenticator, _database, _time).Issue();
        Assert.Equal(AttestationFailureCode.NonceUnknown, _challenges.Open(foreign.Nonce).Failure?.Code);

        // Another node of this fabric: its own instance (its own derivation of the key) over the same row-MAC key.
        var otherNode = new AttestationChallenges(_rows.Authenticator, _database, _time);
        Assert.Null(_challenges.Open(otherNode.Issue().Nonce).Failure);
    }

    [Fact]
    public void Expired_nonce_is_refused_as_expired()
    {
        var challenge = _challenges.Issue();
        _time.Advance(AttestationChallenges.Lifetime + TimeSpan.FromMilliseconds(1));
        Assert.Equal(AttestationFailureCode.NonceExpired, _challenges.Open(challenge.Nonce).Failure?.Code);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not base64url!")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]   // 31 bytes: one short
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]   // 40 bytes: too long for a SHA-256 TPM's qualifying data
    public void Undecodable_nonce_is_malformed(string? text)
    {
        var ex = Assert.Throws<ServiceException>(() => _challenges.Open(text));
        Assert.Equal(nameof(AttestationFailureCode.NonceMalformed), ex.Code);
    }

    [Fact]
    public async Task Nonce_is_single_use_through_the_commit_and_a_concurrent_use_is_replayed()
    {
        var opened = _challenges.Open(_challenges.Issue().Nonce);
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            _database.InTransactionAsync(s => _challenges.TryMarkUsedAsync(s, opened), CancellationToken.None))));
        Assert.Single(results, r => r is null);
        Assert.All(results.Where(r => r is not null), r => Assert.Equal(AttestationFailureCode.NonceReplayed, r!.Code));
        Assert.Equal(AttestationFailureCode.NonceReplayed, (await _challenges.CheckAsync(opened, CancellationToken.None))?.Code);
        Assert.Equal(1L, await CountUsedAsync());
    }

    [Fact]
    public async Task Forged_or_expired_nonce_records_nothing_at_commit()
    {
        byte[] forged = Base64Url.DecodeFromChars(_challenges.Issue().Nonce);
        forged[^1] ^= 0x80;
        var opened = _challenges.Open(Base64Url.EncodeToString(forged));
        var failure = await _database.InTransactionAsync(s => _challenges.TryMarkUsedAsync(s, opened), CancellationToken.None);
        Assert.Equal(AttestationFailureCode.NonceUnknown, failure?.Code);
        Assert.Equal(0L, await CountUsedAsync());
    }

    private async Task<long> CountUsedAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "hgs.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM used_nonces";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private sealed class MovableTime : TimeProvider
    {
        private DateTimeOffset _now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
