using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Storage;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>Acceptance (issue 8 §4): whoever can write the database cannot mint trust with it; the SQLite file is tampered with directly.</summary>
public sealed class DatabaseTamperCliTestsOnSqlite(AuditedDataFolder folder) : DatabaseTamperCliTests(folder), IClassFixture<AuditedDataFolder>;

/// <summary>The same, with the database in PostgreSQL: the rows are tampered with through Npgsql.</summary>
public sealed class DatabaseTamperCliTestsOnPostgres(AuditedPostgresDataFolder folder) : DatabaseTamperCliTests(folder), IClassFixture<AuditedPostgresDataFolder>;

/// <summary>
/// The database is not a root of trust: on a copy of a fabric with history, rows are inserted or edited with plain SQL
/// while no server runs (a DBA, a restored backup, a stolen database password), then a real server process starts on it.
/// </summary>
public abstract class DatabaseTamperCliTests(AuditedDataFolder folder)
{
    [Fact]
    [Trait("Attack", "A50")]
    public async Task An_attestation_signer_inserted_with_sql_signs_nothing_that_releases_and_is_reported()
    {
        string data = folder.Copy();

        // The attacker's own ECDSA key and certificate, inserted as an enabled primary attestation signer.
        using var evilKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=OpenHGS attestation signer att-evil", evilKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var evilSigner = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data,
            "INSERT INTO fabric_keys (id, role, label, algorithm, certificate, is_primary, enabled, created_at) " +
            "VALUES ('att-evil', 'attestation-signer', 'openhgs-att-evil', 'EcP256', @c, 1, 1, 1700000000000)", ("@c", evilSigner.RawData)));

        await using var server = await ServerProcess.StartAsync(data);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };

        // A health certificate the attacker signed for a key of their choosing does not release the VM's key.
        using var attackerHostKey = RSA.Create(2048);
        var claims = new HealthClaims(AttestationMode.HostKey, 1, new byte[32], "audited-host", DateTimeOffset.UtcNow);
        byte[] forged = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, attackerHostKey.ExportSubjectPublicKeyInfo(), TimeSpan.FromHours(1)),
            new HealthCertificateSigner(evilSigner, evilKey));
        var release = new JsonObject
        {
            ["healthCertificate"] = Convert.ToBase64String(forged),
            ["keyProtector"] = Convert.ToBase64String(await File.ReadAllBytesAsync(folder.PathOf("vm.kp"))),
        };
        using (var refused = await http.PostAsync("/keyprotection/v1/release", new StringContent(release.ToJsonString(), Encoding.UTF8, "application/json")))
        {
            var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Equal(403, (int)refused.StatusCode);
            Assert.Equal("HealthCertificateUntrustedSigner", (string?)problem["code"]);
            Assert.Null(problem["transportKey"]);
        }

        // The row is reported by /healthz and 'hgs diagnose'; the genuine keys still serve.
        using (var health = await http.GetAsync("/healthz"))
        {
            var checks = JsonNode.Parse(await health.Content.ReadAsStringAsync())!["checks"]!;
            Assert.Equal(200, (int)health.StatusCode);
            Assert.Contains("IGNORED: att-evil (RowIntegrity)", (string?)checks["fabricKeys"], StringComparison.Ordinal);
        }

        var diagnose = (await HgsCli.RunAsync("diagnose", "--url", server.Url)).Succeeded();
        Assert.Contains("IGNORED: att-evil (RowIntegrity)", diagnose.StdOut, StringComparison.Ordinal);
        Assert.Contains("Fabric key row att-evil is ignored (RowIntegrity)", server.Output, StringComparison.Ordinal);

        // 'hgs keys list' shows only the genuine keys, and the genuine host still attests and unlocks.
        var admin = new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        var keys = (await HgsCli.RunAsync(["keys", "list", "--json"], admin)).Succeeded().Json().AsArray();
        Assert.DoesNotContain(keys, k => (string?)k!["id"] == "att-evil");
        string state = Path.Combine(data, "..", Path.GetFileName(data) + "-state");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", server.Url, "--key-protection-url", server.Url, "--host-key", folder.PathOf("keys"))).Succeeded();
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", folder.PathOf("vm.kp"), "--out", state + ".tk")).Succeeded();
    }

    [Fact]
    [Trait("Attack", "A51")]
    public async Task An_admin_hash_replaced_with_sql_admits_nobody()
    {
        string data = folder.Copy();
        const string AttackerToken = "hgsadm_the-attacker-knows-this-one";
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(AttackerToken)));
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, $"UPDATE settings SET value = '{hash}' WHERE name = 'admin-token-sha256'"));

        await using var server = await ServerProcess.StartAsync(data);
        foreach (string token in new[] { AttackerToken, folder.AdminToken })
        {
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var answer = await http.GetAsync("/admin/v1/hosts");
            Assert.Equal(503, (int)answer.StatusCode);
            Assert.Equal("AdminCredentialIntegrity", (string?)JsonNode.Parse(await answer.Content.ReadAsStringAsync())!["code"]);
        }

        var cli = await HgsCli.RunAsync(["hosts", "list"], new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = AttackerToken });
        Assert.StartsWith("error: AdminCredentialIntegrity:", cli.FailedWithOneErrorLine(3), StringComparison.Ordinal);
        Assert.Contains("The settings row 'admin-token-sha256' fails its integrity check", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A52")]
    public async Task A_host_whose_key_was_swapped_with_sql_cannot_attest()
    {
        string data = folder.Copy();
        string attackerKeys = Path.Combine(data, "..", Path.GetFileName(data) + "-attacker-keys");
        (await HgsCli.RunAsync("client", "keygen", "--out", attackerKeys)).Succeeded();
        byte[] spki;
        using (var keys = HostKeyPair.Load(attackerKeys))
        {
            spki = keys.SigningPublicKey;
        }

        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, "UPDATE hosts SET public_key = @k, key_thumbprint = @t WHERE name = 'audited-host'",
            ("@k", spki), ("@t", Convert.ToHexStringLower(SHA256.HashData(spki)))));

        await using var server = await ServerProcess.StartAsync(data);
        string state = attackerKeys + "-state";
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", server.Url, "--key-protection-url", server.Url, "--host-key", attackerKeys)).Succeeded();
        var attest = await HgsCli.RunAsync("client", "attest", "--state", state);
        Assert.StartsWith("error: UnauthorizedHost: HostRecordIntegrity:", attest.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains("The registration of host audited-host fails its integrity check", server.Output, StringComparison.Ordinal);

        // Refused and audited with its code.
        var admin = new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        var audit = (await HgsCli.RunAsync(["audit", "list", "--json"], admin)).Succeeded().Json().AsArray();
        Assert.Contains(audit, r => (string?)r!["event"] == "attestation.attest" && (string?)r["reason"] == "HostRecordIntegrity");
    }

    [Fact]
    [Trait("Attack", "A94")]
    public async Task A_removed_host_put_back_with_sql_from_a_copy_of_its_row_cannot_attest()
    {
        string data = folder.Copy();
        await AuditedDataFolder.ExecuteAsync(data, "CREATE TABLE saved_hosts AS SELECT * FROM hosts");
        var admin = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        await using (var first = await ServerProcess.StartAsync(data))
        {
            admin["HGS_URL"] = first.Url;
            await first.WaitForOutputAsync(@"All \d+ security-relevant rows verify", TimeSpan.FromSeconds(30));   // the report at start (event 2024)
            (await HgsCli.RunAsync(["hosts", "remove", "audited-host"], admin)).Succeeded();
            Assert.Equal(0, await first.StopAsync());
        }

        // The row comes back byte for byte, MAC and all, as a restore of an older backup of the table would bring it.
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, "INSERT INTO hosts SELECT * FROM saved_hosts"));

        await using var server = await ServerProcess.StartAsync(data);
        admin["HGS_URL"] = server.Url;
        // Named in the log at start (event 2023), before any request needs the row.
        await server.WaitForOutputAsync(@"Row hosts/audited-host fails its integrity check \(superseded\): The hosts row 'audited-host' is an older copy put back", TimeSpan.FromSeconds(30));
        var (state, _) = await ConfigureAndUnlockAsync(data, server.Url);
        var attest = await HgsCli.RunAsync("client", "attest", "--state", state);
        Assert.StartsWith("error: UnauthorizedHost: HostRecordIntegrity:", attest.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains("is an older copy put back outside OpenHGS", attest.StdErr, StringComparison.Ordinal);
        Assert.Matches(@"The registration of host audited-host fails its integrity check: it is an older copy put back outside OpenHGS \(audit record \d+ removed or replaced it\)", server.Output);

        var audit = (await HgsCli.RunAsync(["audit", "list", "--json"], admin)).Succeeded().Json().AsArray();
        Assert.Contains(audit, r => (string?)r!["event"] == "attestation.attest" && (string?)r["reason"] == "HostRecordIntegrity");
        Assert.DoesNotContain((await HgsCli.RunAsync(["hosts", "list", "--json"], admin)).Succeeded().Json().AsArray(), h => (string?)h!["name"] == "audited-host");
    }

    [Fact]
    [Trait("Attack", "A103")]
    public async Task A_removed_host_put_back_with_a_forged_admin_record_naming_it_still_cannot_attest()
    {
        string data = folder.Copy();
        await AuditedDataFolder.ExecuteAsync(data, "CREATE TABLE saved_hosts AS SELECT * FROM hosts");
        string thumbprint = (await AuditedDataFolder.QueryAsync(data, "SELECT key_thumbprint FROM hosts WHERE name = 'audited-host'", r => r.GetString(0))).Single();
        var admin = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        await using (var first = await ServerProcess.StartAsync(data))
        {
            admin["HGS_URL"] = first.Url;
            (await HgsCli.RunAsync(["hosts", "remove", "audited-host"], admin)).Succeeded();
            Assert.Equal(0, await first.StopAsync());
        }

        long removal = (await AuditedDataFolder.QueryAsync(data, "SELECT MAX(seq) FROM audit_log WHERE event = 'admin.hosts.remove'", r => r.GetInt64(0))).Single();
        // The row back, and a registration record naming it appended to the trail: linked and hashed, but not sealed
        // (the trigger that refuses such a record from a node of an older release dropped first).
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, "INSERT INTO hosts SELECT * FROM saved_hosts"));
        await AuditedDataFolder.DropSealGuardAsync(data);
        long forged = await AuditedDataFolder.AppendOutsideAsync(data, new AuditEvent("admin.hosts.add", "success", "audited-host", null,
            $"{{\"keyThumbprint\":\"{thumbprint}\",\"mode\":\"host-key\"}}"));

        await using var server = await ServerProcess.StartAsync(data);
        admin["HGS_URL"] = server.Url;
        await server.WaitForOutputAsync($@"Row audit_log/{forged} fails its integrity check \(forged\): The admin record {forged} \(admin.hosts.add about 'audited-host'\) has no valid seal", TimeSpan.FromSeconds(30));
        var (state, _) = await ConfigureAndUnlockAsync(data, server.Url);
        var attest = await HgsCli.RunAsync("client", "attest", "--state", state);
        Assert.StartsWith("error: UnauthorizedHost: HostRecordIntegrity:", attest.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains($"(audit record {removal} removed or replaced it)", attest.StdErr, StringComparison.Ordinal);

        var rows = await HgsCli.RunAsync(["audit", "rows"], admin);
        Assert.StartsWith("error: 2 row(s) fail their integrity check, first hosts/audited-host (superseded)", rows.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains($"The admin record {forged} (admin.hosts.add about 'audited-host') has no valid seal", rows.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A53")]
    public async Task A_deny_before_date_moved_back_with_sql_fails_closed()
    {
        var (data, _) = await CopyWithDenyBeforeNowAsync();

        // The attacker moves the date to 1970 (as good as removing it), so that old health certificates release again.
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, "UPDATE settings SET value = '0' WHERE name = 'deny-before'"));

        await using var server = await ServerProcess.StartAsync(data);
        var (state, unlock) = await ConfigureAndUnlockAsync(data, server.Url);
        Assert.StartsWith("error: SettingsIntegrity:", unlock.FailedWithOneErrorLine(3), StringComparison.Ordinal);
        Assert.False(File.Exists(state + ".tk"));

        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        using var health = await http.GetAsync("/healthz");
        Assert.Equal(503, (int)health.StatusCode);
        Assert.Equal("integrity check failed", (string?)JsonNode.Parse(await health.Content.ReadAsStringAsync())!["checks"]!["settings"]);
    }

    [Fact]
    [Trait("Attack", "A91")]
    public async Task A_deny_before_row_deleted_with_sql_is_not_written_again_at_start_and_fails_closed()
    {
        var (data, admin) = await CopyWithDenyBeforeNowAsync();

        // Deleting the row used to read as "no deny-before date": every certificate from before it released again.
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, "DELETE FROM settings WHERE name = 'deny-before'"));

        await using var server = await ServerProcess.StartAsync(data);
        Assert.Contains("Settings rows deny-before are missing although the audit trail (admin.settings.explicit) shows they were written", server.Output, StringComparison.Ordinal);
        var (state, unlock) = await ConfigureAndUnlockAsync(data, server.Url);
        Assert.StartsWith("error: SettingsIntegrity: The service setting 'deny-before' is missing", unlock.FailedWithOneErrorLine(3), StringComparison.Ordinal);
        Assert.False(File.Exists(state + ".tk"));

        // The start wrote no default in its place (deleting it again finds nothing); the admin sets it, and releases resume.
        Assert.Equal(0, await AuditedDataFolder.ExecuteAsync(data, "DELETE FROM settings WHERE name = 'deny-before'"));
        admin["HGS_URL"] = server.Url;
        (await HgsCli.RunAsync(["server", "deny-before", "none"], admin)).Succeeded();
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", folder.PathOf("vm.kp"), "--out", state + ".tk")).Succeeded();
    }

    /// <summary>A copy of the fabric on which the admin set a deny-before date (now) through a real server, stopped again.</summary>
    private async Task<(string Data, Dictionary<string, string?> Admin)> CopyWithDenyBeforeNowAsync()
    {
        string data = folder.Copy();
        var admin = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        await using var first = await ServerProcess.StartAsync(data);
        admin["HGS_URL"] = first.Url;
        (await HgsCli.RunAsync(["server", "deny-before", "now"], admin)).Succeeded();
        Assert.Equal(0, await first.StopAsync());
        return (data, admin);
    }

    /// <summary>The fabric's host configured against <paramref name="url"/> (state beside the data folder), then unlocking the VM.</summary>
    private async Task<(string State, CliResult Unlock)> ConfigureAndUnlockAsync(string data, string url)
    {
        string state = Path.Combine(data, "..", Path.GetFileName(data) + "-state");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", url, "--key-protection-url", url, "--host-key", folder.PathOf("keys"))).Succeeded();
        return (state, await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", folder.PathOf("vm.kp"), "--out", state + ".tk"));
    }
}
