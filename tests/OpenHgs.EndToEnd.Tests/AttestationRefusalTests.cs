using System.Security.Cryptography;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Attestation;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>Host-key attestation refuses, each with its own reason, and changes nothing but the audit trail.</summary>
public sealed class AttestationRefusalTestsOnSqlite() : AttestationRefusalTests(DatabaseKind.Sqlite);

/// <summary>The same refusals with the cluster database.</summary>
public sealed class AttestationRefusalTestsOnPostgres() : AttestationRefusalTests(DatabaseKind.Postgres);

public abstract class AttestationRefusalTests(DatabaseKind database) : OneHostServiceTests(database)
{
    [Fact]
    public async Task Registered_host_passes_and_gets_a_certificate()
    {
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), Keys));
        Assert.Equal(200, answer.Status);
        Assert.Equal("Passed", answer.Code);
        Assert.False(string.IsNullOrEmpty(answer.Body.GetProperty("healthCertificate").GetString()));
    }

    [Fact]
    [Trait("Attack", "A91")]
    public async Task A_deleted_mode_row_stops_attestation_with_SettingsIntegrity_until_an_admin_sets_the_mode()
    {
        // Design change 62: the mode always has a row, and a missing one is not read as host-key (it would turn a TPM
        // fabric into a host-key one). The commit step reads the mode again inside its transaction and refuses too.
        var challenge = await Raw.ChallengeAsync();
        await Service.ExecuteSqlAsync("DELETE FROM settings WHERE name = 'mode'");
        Assert.Equal(0, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM settings WHERE name = 'mode'"));
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(challenge, Keys));
        Assert.Equal(503, answer.Status);
        Assert.Equal("SettingsIntegrity", answer.Code);

        await Service.Admin.SetModeAsync("host-key", CancellationToken.None);
        var again = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), Keys));
        Assert.Equal(200, again.Status);
        Assert.Equal("Passed", again.Code);
    }

    [Fact]
    [Trait("Attack", "A05")]
    public async Task Unregistered_key_is_refused_as_unauthorized_host()
    {
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), stranger, stranger.ExportSubjectPublicKeyInfo(), Keys.EncryptionPublicKey));
        await AssertRefusedAsync(answer, "UnauthorizedHost", "HostKeyNotRegistered");
    }

    [Fact]
    [Trait("Attack", "A06")]
    public async Task Removed_host_is_refused()
    {
        await Service.Admin.RemoveHostAsync("host-a", CancellationToken.None);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), Keys));
        await AssertRefusedAsync(answer, "UnauthorizedHost", "HostKeyNotRegistered");
    }

    [Fact]
    [Trait("Attack", "A07")]
    public async Task Signature_by_another_key_is_refused()
    {
        using var impostor = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), impostor, Keys.SigningPublicKey, Keys.EncryptionPublicKey));
        await AssertRefusedAsync(answer, "UnauthorizedHost", "SignatureInvalid");
    }

    [Fact]
    [Trait("Attack", "A01")]
    public async Task Replayed_nonce_is_refused()
    {
        byte[] nonce = await Raw.ChallengeAsync();
        Assert.Equal(200, (await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys))).Status);
        var replay = await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys));
        await AssertRefusedAsync(replay, "InvalidEvidence", "NonceReplayed");
    }

    [Fact]
    [Trait("Attack", "A01")]
    public async Task Concurrent_uses_of_one_nonce_pass_exactly_once()
    {
        long audit = await Service.AuditCountAsync();
        byte[] nonce = await Raw.ChallengeAsync();
        var body = RawProtocol.Evidence(nonce, Keys);
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => Raw.AttestAsync(body))));
        Assert.Single(answers, a => a.Status == 200);
        Assert.All(answers.Where(a => a.Status != 200), a =>
        {
            Assert.Equal(403, a.Status);
            Assert.Equal(["NonceReplayed"], RawProtocol.ReasonCodes(a));
        });
        Assert.Equal(1, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));
        Assert.Equal(audit + answers.Length, await Service.AuditCountAsync());   // every use audited, one commit each
    }

    [Fact]
    [Trait("Attack", "A02")]
    public async Task Nonce_never_issued_is_refused()
    {
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(RandomNumberGenerator.GetBytes(AttestationChallenges.NonceBytes), Keys));
        await AssertRefusedAsync(answer, "InvalidEvidence", "NonceUnknown");
    }

    [Theory]
    [Trait("Attack", "A02")]
    [InlineData(14)]   // the expiry: a host extending its nonce's life
    [InlineData(31)]   // the MAC
    public async Task Nonce_with_a_forged_mac_is_refused(int index)
    {
        byte[] nonce = await Raw.ChallengeAsync();
        nonce[index] ^= 0x01;
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys));
        await AssertRefusedAsync(answer, "InvalidEvidence", "NonceUnknown");
        Assert.Equal(0, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));
    }

    [Fact]
    public async Task Challenge_writes_nothing_and_the_verdict_carries_the_next_challenge()
    {
        long audit = await Service.AuditCountAsync();
        byte[] nonce = await Raw.ChallengeAsync();
        Assert.Equal(AttestationChallenges.NonceBytes, nonce.Length);
        Assert.Equal(audit, await Service.AuditCountAsync());
        Assert.Equal(0, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));

        // One round trip per attestation: each verdict's nextChallenge answers the next attestation.
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(200, answer.Status);
            var next = answer.Body.GetProperty("nextChallenge");
            Assert.True(next.GetProperty("expiresAt").GetDateTimeOffset() > Service.Time.GetUtcNow());
            answer = await Raw.AttestAsync(RawProtocol.Evidence(System.Buffers.Text.Base64Url.DecodeFromChars(next.GetProperty("nonce").GetString()), Keys));
        }

        Assert.Equal(200, answer.Status);
        Assert.Equal(4, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));
    }

    [Fact]
    [Trait("Attack", "A03")]
    public async Task Expired_nonce_is_refused()
    {
        byte[] nonce = await Raw.ChallengeAsync();
        Service.Time.Offset = TimeSpan.FromMinutes(6);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys));
        await AssertRefusedAsync(answer, "InvalidEvidence", "NonceExpired");
    }

    [Fact]
    [Trait("Attack", "A08")]
    public async Task Encryption_key_that_is_not_rsa_is_refused()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), (ECDsa)Keys.SigningKey, Keys.SigningPublicKey, ec.ExportSubjectPublicKeyInfo()));
        await AssertRefusedAsync(answer, "InvalidEvidence", "EncryptionKeyUnsupported");
    }

    [Theory]
    [Trait("Attack", "A09")]
    [InlineData("{", "RequestMalformed")]
    [InlineData("[]", "RequestMalformed")]
    [InlineData("{\"nonce\":\"AAAA\",\"hostKey\":{\"signingPublicKey\":\"AA==\",\"encryptionPublicKey\":\"AA==\",\"signature\":\"AA==\"}}", "NonceMalformed")]
    [InlineData("{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"hostKey\":null}", "EvidenceMissing")]
    [InlineData("{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "EvidenceMissing")]
    [InlineData("{\"nonce\":\"x\",\"hostKey\":null,\"extra\":1}", "RequestMalformed")]
    public async Task Malformed_requests_get_a_problem_an_audit_record_and_change_nothing_else(string body, string code)
    {
        long audit = await Service.AuditCountAsync();
        long nonces = await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces");
        var answer = await Raw.PostAsync("attestation/v1/attest", body);
        Assert.Equal(400, answer.Status);
        Assert.Equal(code, answer.Code);

        // Nothing changes but the trail: probing the parser leaves exactly one refusal record naming the code.
        Assert.Equal(audit + 1, await Service.AuditCountAsync());
        await AssertNewestRefusalAsync(code);
        Assert.Equal(nonces, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));
    }

    [Fact]
    [Trait("Attack", "A10")]
    public async Task Oversized_request_is_refused_with_413()
    {
        long audit = await Service.AuditCountAsync();
        long nonces = await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces");
        var answer = await Raw.PostAsync("attestation/v1/attest", "{\"nonce\":\"" + new string('A', 600 * 1024) + "\"}");
        Assert.Equal(413, answer.Status);
        Assert.Equal("RequestTooLarge", answer.Code);

        // Like any other bad input: one refusal record naming the code, no nonce consumed.
        Assert.Equal(audit + 1, await Service.AuditCountAsync());
        await AssertNewestRefusalAsync("RequestTooLarge");
        Assert.Equal(nonces, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));
    }

    [Fact]
    [Trait("Attack", "A11")]
    public async Task Wrong_content_type_is_refused()
    {
        var answer = await Raw.PostAsync("attestation/v1/attest", "{}", "text/plain");
        Assert.Equal(400, answer.Status);
        Assert.Equal("UnsupportedMediaType", answer.Code);
    }

    private async Task AssertRefusedAsync(RawAnswer answer, string status, string reason)
    {
        Assert.Equal(403, answer.Status);
        Assert.Equal(status, answer.Code);
        Assert.Equal([reason], RawProtocol.ReasonCodes(answer));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, answer.Body.GetProperty("healthCertificate").ValueKind);

        // The refusal is audited with its reason, and the host registry is untouched.
        await AssertNewestRefusalAsync(reason);
        var hosts = await Service.Admin.ListHostsAsync(CancellationToken.None);
        Assert.True(hosts.Count <= 1);
    }

    private async Task AssertNewestRefusalAsync(string reason)
    {
        var newest = (await Service.Admin.ReadAuditAsync(1, CancellationToken.None)).Single();
        Assert.Equal(("attestation.attest", "refused", reason), (newest.Event, newest.Outcome, newest.Reason));
    }
}
