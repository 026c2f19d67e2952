using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>Key release refuses, each with its own reason, audits the refusal, and releases nothing.</summary>
public sealed class ReleaseRefusalTestsOnSqlite() : ReleaseRefusalTests(DatabaseKind.Sqlite);

/// <summary>The same refusals with the cluster database.</summary>
public sealed class ReleaseRefusalTestsOnPostgres() : ReleaseRefusalTests(DatabaseKind.Postgres);

public abstract class ReleaseRefusalTests(DatabaseKind database) : IAsyncLifetime
{
    private ServiceHarness _service = null!;
    private RawProtocol _raw = null!;
    private Tenant _tenant = null!;
    private GuardianMetadata _fabric = null!;
    private KeyProtector _protector = null!;
    private byte[] _certificate = null!;

    public async Task InitializeAsync()
    {
        _service = await ServiceHarness.StartAsync(StoreKind.Software, database);
        _raw = new RawProtocol(_service.Url);
        _tenant = new Tenant();
        _fabric = await _service.FabricGuardianAsync();
        (_protector, _) = _tenant.CreateProtector(_fabric);
        var host = await _service.AddHostAsync("host-r");
        using var client = host.Client();
        _certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
    }

    public async Task DisposeAsync()
    {
        _tenant.Dispose();
        _raw.Dispose();
        await _service.DisposeAsync();
    }

    [Fact]
    public async Task Baseline_release_succeeds()
    {
        var answer = await _raw.ReleaseAsync(_protector.ToJson(), _certificate);
        Assert.Equal(200, answer.Status);
    }

    [Fact]
    [Trait("Attack", "A32")]
    public async Task Expired_health_certificate_is_refused()
    {
        _service.Time.Offset = TimeSpan.FromHours(8) + TimeSpan.FromMinutes(1);
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "HealthCertificateExpired");
    }

    [Fact]
    [Trait("Attack", "A33")]
    public async Task Health_certificate_not_yet_valid_is_refused()
    {
        _service.Time.Offset = -TimeSpan.FromMinutes(10);
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "HealthCertificateNotYetValid");
    }

    [Fact]
    [Trait("Attack", "A34")]
    public async Task Health_certificate_from_an_untrusted_signer_is_refused()
    {
        // Same issuer name as the real attestation signer, but another key: only the signature can tell.
        var keys = await _service.Admin.ListKeysAsync(CancellationToken.None);
        using var realSigner = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(keys.Single(k => k.Role == "attestation-signer").Certificate));
        using var evilKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var evilRequest = new CertificateRequest(realSigner.SubjectName, evilKey, HashAlgorithmName.SHA256);
        evilRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(evilRequest.PublicKey, false));
        using var evilSigner = evilRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var genuine = X509CertificateLoader.LoadCertificate(_certificate);
        var claims = new HealthClaims(AttestationMode.HostKey, 1, new byte[32], "host-r", DateTimeOffset.UtcNow);
        byte[] forged = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, genuine.PublicKey.ExportSubjectPublicKeyInfo(), TimeSpan.FromHours(1)),
            new HealthCertificateSigner(evilSigner, evilKey));
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), forged), 403, "HealthCertificateUntrustedSigner");
    }

    [Fact]
    [Trait("Attack", "A35")]
    public async Task Health_certificate_issued_before_the_deny_date_is_refused()
    {
        await _service.Admin.SetDenyBeforeAsync(DateTimeOffset.UtcNow.AddSeconds(1), CancellationToken.None);
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "HealthCertificateIssuedBeforeDenyDate");
    }

    [Fact]
    [Trait("Attack", "A134")]
    public async Task Deny_before_now_is_the_services_clock_not_the_admin_workstations()
    {
        // The service's clock runs ten minutes ahead of this (the admin's) machine: the certificate it stamps now is
        // "issued" ten minutes after the admin's now.
        _service.Time.Offset = TimeSpan.FromMinutes(10);
        using var client = (await _service.AddHostAsync("host-ahead")).Client();
        byte[] stamped = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;

        // What "now" meant before, the workstation's clock, is before the certificate's issue time: it stayed valid.
        using (var issued = X509CertificateLoader.LoadCertificate(stamped))
        {
            Assert.True(new DateTimeOffset(issued.NotBefore.ToUniversalTime()) + HealthCertificateProfile.NotBeforeSkew > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(9));
        }

        await _service.Admin.SetDenyBeforeNowAsync(CancellationToken.None);
        var applied = (await _service.Admin.GetSettingsAsync(CancellationToken.None)).DenyBefore!.Value;
        Assert.InRange(applied, DateTimeOffset.UtcNow + TimeSpan.FromMinutes(9), DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11));
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), stamped), 403, "HealthCertificateIssuedBeforeDenyDate");
    }

    [Fact]
    [Trait("Attack", "A134")]
    public async Task Deny_before_with_both_an_instant_and_now_is_refused_and_changes_nothing()
    {
        var before = (await _service.Admin.GetSettingsAsync(CancellationToken.None)).DenyBefore;
        using var http = new HttpClient { BaseAddress = new Uri(_service.Url) };
        using var request = new HttpRequestMessage(HttpMethod.Put, "admin/v1/settings/deny-before")
        {
            Content = new StringContent("{\"denyBefore\":\"2030-01-01T00:00:00Z\",\"now\":true}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", _service.AdminToken);
        using var response = await http.SendAsync(request);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("DenyBeforeAmbiguous", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]);
        Assert.Equal(before, (await _service.Admin.GetSettingsAsync(CancellationToken.None)).DenyBefore);
    }

    [Fact]
    [Trait("Attack", "A36")]
    public async Task Garbage_health_certificate_is_refused()
    {
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), Encoding.ASCII.GetBytes("not a certificate")), 403, "HealthCertificateMalformed");
    }

    [Fact]
    [Trait("Attack", "A39")]
    public async Task Key_protector_not_granted_to_this_fabric_is_refused()
    {
        using var other = new Tenant("other-guardian");
        var (foreign, _) = _tenant.CreateProtector(other.Owner.Metadata);
        await AssertRefusedAsync(await _raw.ReleaseAsync(foreign.ToJson(), _certificate), 403, "NotGrantedToFabric");
    }

    [Fact]
    [Trait("Attack", "A40")]
    public async Task Revoked_key_protector_is_refused()
    {
        var revoked = KeyProtectorBuilder.Revoke(_protector, _tenant.Owner, _fabric.Name);
        await AssertRefusedAsync(await _raw.ReleaseAsync(revoked.ToJson(), _certificate), 403, "NotGrantedToFabric");
    }

    [Fact]
    [Trait("Attack", "A41")]
    public async Task Disabled_kps_key_is_refused()
    {
        var old = (await _service.Admin.ListKeysAsync(CancellationToken.None)).Single(k => k.Role == "encryption");
        var replacement = await _service.Admin.AddKeyAsync("encryption", CancellationToken.None);
        await _service.Admin.SetPrimaryAsync(replacement.Id, CancellationToken.None);
        await _service.Admin.SetEnabledAsync(old.Id, false, CancellationToken.None);
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "KpsKeyDisabled");

        // Enabling it again restores release: the refusal was about the key, nothing else.
        await _service.Admin.SetEnabledAsync(old.Id, true, CancellationToken.None);
        Assert.Equal(200, (await _raw.ReleaseAsync(_protector.ToJson(), _certificate)).Status);
    }

    [Fact]
    [Trait("Attack", "A37")]
    public async Task Certificate_of_a_disabled_attestation_signer_is_refused_at_once()
    {
        var old = (await _service.Admin.ListKeysAsync(CancellationToken.None)).Single(k => k.Role == "attestation-signer");
        var replacement = await _service.Admin.AddKeyAsync("attestation-signer", CancellationToken.None);
        await _service.Admin.SetPrimaryAsync(replacement.Id, CancellationToken.None);
        await _service.Admin.SetEnabledAsync(old.Id, false, CancellationToken.None);

        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "HealthCertificateUntrustedSigner");
    }

    [Fact]
    [Trait("Attack", "A38")]
    public async Task Certificate_issued_in_the_other_mode_is_refused_after_set_mode()
    {
        await _service.Admin.SetModeAsync("tpm", CancellationToken.None);
        await AssertRefusedAsync(await _raw.ReleaseAsync(_protector.ToJson(), _certificate), 403, "HealthCertificateModeMismatch");

        // Back in host-key mode the same certificate releases again: the refusal was about the mode alone.
        await _service.Admin.SetModeAsync("host-key", CancellationToken.None);
        Assert.Equal(200, (await _raw.ReleaseAsync(_protector.ToJson(), _certificate)).Status);
    }

    [Theory]
    [Trait("Attack", "A42")]
    [InlineData("guardianSignature", "KeyProtectorGuardianSignatureInvalid")]
    [InlineData("transportKeySignature", "KeyProtectorTransportKeySignatureInvalid")]
    public async Task Altered_signature_byte_is_refused(string field, string code)
    {
        var envelope = JsonNode.Parse(_protector.ToJson())!.AsObject();
        envelope[field]!["value"] = FlipBase64Url(envelope[field]!["value"]!.GetValue<string>(), 5);
        await AssertRefusedAsync(await _raw.ReleaseAsync(Encoding.UTF8.GetBytes(envelope.ToJsonString()), _certificate), 403, code);
    }

    [Fact]
    [Trait("Attack", "A43")]
    public async Task Any_altered_payload_byte_is_refused()
    {
        var envelope = JsonNode.Parse(_protector.ToJson())!.AsObject();
        string payload = envelope["payload"]!.GetValue<string>();
        int payloadBytes = System.Buffers.Text.Base64Url.DecodeFromChars(payload).Length;
        foreach (int position in new[] { 0, 1, payloadBytes / 7, payloadBytes / 3, payloadBytes / 2, payloadBytes * 2 / 3, payloadBytes - 2, payloadBytes - 1 })
        {
            envelope["payload"] = FlipBase64Url(payload, position);
            var answer = await _raw.ReleaseAsync(Encoding.UTF8.GetBytes(envelope.ToJsonString()), _certificate);
            Assert.Equal(403, answer.Status);
            Assert.StartsWith("KeyProtector", answer.Code, StringComparison.Ordinal);
        }
    }

    [Fact]
    [Trait("Attack", "A44")]
    public async Task Altered_wrapping_re_signed_by_an_attacker_is_refused()
    {
        // An attacker without the owner's key swaps the fabric wrapping's wrapped key for one of their own and
        // signs the payload with their own key: the guardian signature no longer verifies.
        var envelope = JsonNode.Parse(_protector.ToJson())!.AsObject();
        var payload = JsonNode.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(envelope["payload"]!.GetValue<string>()))!.AsObject();
        var fabricWrapping = payload["wrappings"]!.AsArray().Single(w => w!["guardianName"]!.GetValue<string>() == _fabric.Name)!;
        fabricWrapping["wrappedKey"]!["value"] = FlipBase64Url(fabricWrapping["wrappedKey"]!["value"]!.GetValue<string>(), 10);
        byte[] newPayload = Encoding.UTF8.GetBytes(payload.ToJsonString());
        envelope["payload"] = System.Buffers.Text.Base64Url.EncodeToString(newPayload);
        using var attacker = RSA.Create(2048);
        envelope["guardianSignature"]!["value"] = System.Buffers.Text.Base64Url.EncodeToString(attacker.SignData(newPayload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        await AssertRefusedAsync(await _raw.ReleaseAsync(Encoding.UTF8.GetBytes(envelope.ToJsonString()), _certificate), 403, "KeyProtectorGuardianSignatureInvalid");
    }

    [Theory]
    [Trait("Attack", "A45")]
    [InlineData("{", 400, "RequestMalformed")]
    [InlineData("{\"keyProtector\":\"%%%\",\"healthCertificate\":\"AA==\"}", 400, "RequestMalformed")]
    [InlineData("{\"keyProtector\":\"AA==\"}", 400, "RequestMalformed")]
    [InlineData("{\"keyProtector\":\"AA==\",\"healthCertificate\":\"AA==\",\"unknown\":true}", 400, "RequestMalformed")]
    public async Task Malformed_release_requests_are_refused_and_audited(string body, int status, string code)
    {
        long before = await _service.AuditCountAsync();
        var answer = await _raw.PostAsync("keyprotection/v1/release", body);
        Assert.Equal(status, answer.Status);
        Assert.Equal(code, answer.Code);
        Assert.Equal(before + 1, await _service.AuditCountAsync());
    }

    [Fact]
    [Trait("Attack", "A46")]
    public async Task Oversized_release_request_is_refused_with_413_and_audited()
    {
        long before = await _service.AuditCountAsync();
        var answer = await _raw.PostAsync("keyprotection/v1/release", "{\"keyProtector\":\"" + new string('A', 700 * 1024) + "\",\"healthCertificate\":\"AA==\"}");
        Assert.Equal(413, answer.Status);
        Assert.Equal("RequestTooLarge", answer.Code);
        Assert.Equal(before + 1, await _service.AuditCountAsync());
    }

    private async Task AssertRefusedAsync(RawAnswer answer, int status, string code)
    {
        Assert.Equal(status, answer.Status);
        Assert.Equal(code, answer.Code);
        Assert.False(answer.Body.TryGetProperty("transportKey", out _));
        var newest = (await _service.Admin.ReadAuditAsync(5, CancellationToken.None)).First(r => r.Event == "keyprotection.release");
        Assert.Equal(("refused", code), (newest.Outcome, newest.Reason));
        Assert.Equal(0, await _service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'success'"));
    }

    private static string FlipBase64Url(string value, int bytePosition)
    {
        byte[] bytes = System.Buffers.Text.Base64Url.DecodeFromChars(value);
        bytes[bytePosition % bytes.Length] ^= 0x01;
        return System.Buffers.Text.Base64Url.EncodeToString(bytes);
    }
}
