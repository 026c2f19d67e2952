using System.Diagnostics;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Server.Configuration;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// A store goes away under a running service (PostgreSQL stopped, SQLite locked by another process, the HSM's p11-kit
/// server killed): requests fail with 503 and a clear code, nothing is released without its audit record, each failed
/// release leaves an audit record with outcome <c>error</c> and that code once the database takes it (issue 9 §2), and
/// the service recovers by itself when the store returns.
/// </summary>
public sealed class DatabaseOutageTests
{
    [Fact]
    [Trait("Attack", "A63")]
    public async Task Service_fails_closed_while_postgres_is_down_and_recovers_when_it_returns()
    {
        var postgres = PostgresServer.StartNew();
        await using var service = await ServiceHarness.StartAsync(StoreKind.Software, DatabaseKind.Postgres, postgres);
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await service.FabricGuardianAsync());
        var host = await service.AddHostAsync("host-db");
        using var raw = new RawProtocol(service.Url);
        using var keys = HostKeyPair.Load(host.KeyDirectory);
        using var client = host.Client();
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        Assert.Equal(transportKey, (await client.UnlockAsync(protector.ToJson(), CancellationToken.None)).TransportKey);

        postgres.Stop();
        try
        {
            var watch = Stopwatch.StartNew();
            // A challenge is stateless and still answered; the attestation over it cannot check or record its nonce.
            var attest = await raw.AttestAsync(RawProtocol.Evidence(await raw.ChallengeAsync(), keys));
            Assert.Equal(503, attest.Status);
            Assert.Contains(attest.Code, new[] { "AuditUnavailable", "DatabaseUnavailable" });

            // Key release may still find keys and settings in its cache, but cannot write its audit record: nothing leaves.
            var release = await raw.ReleaseAsync(protector.ToJson(), certificate);
            Assert.Equal(503, release.Status);
            Assert.Contains(release.Code, new[] { "AuditUnavailable", "DatabaseUnavailable" });
            Assert.False(release.Body.TryGetProperty("transportKey", out _));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"refusals took {watch.Elapsed}, expected a fast failure");

            using var health = new HttpClient();
            var ready = await health.GetAsync(service.Url + "/healthz/ready");
            Assert.Equal(503, (int)ready.StatusCode);
        }
        finally
        {
            postgres.Restart();
        }

        // Recovery without a restart of the service: the pool reconnects.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        RawAnswer answer;
        do
        {
            answer = await raw.ReleaseAsync(protector.ToJson(), certificate);
            if (answer.Status == 200)
            {
                break;
            }

            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(200, answer.Status);

        // The release refused during the outage was not silent: it has its error record (never a refusal or a success).
        Assert.Equal(0, await service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome <> 'error' AND reason LIKE '%Unavailable%'"));
        // At least one (retries while PostgreSQL came back may have failed too, each with its own record), written by the
        // writer after its first successful commit, so waited for.
        await WaitUntilAsync(async () => await service.ExecuteSqlAsync(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'error' AND reason IN ('AuditUnavailable', 'DatabaseUnavailable')") >= 1,
            "the error record of the release refused during the outage");
        var audit = await service.Admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
    }

    [Fact]
    [Trait("Attack", "A76")]
    public async Task Release_while_another_process_holds_sqlite_locked_answers_503_and_leaves_an_error_record_once_unlocked()
    {
        await using var service = await ServiceHarness.StartAsync();
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await service.FabricGuardianAsync());
        var host = await service.AddHostAsync("host-locked");
        using var raw = new RawProtocol(service.Url);
        using var client = host.Client();
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        const string Errors = "SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'error' AND reason = 'AuditUnavailable' AND subject = 'host-locked'";
        long successes = await service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'success'");

        using (new SqliteWriteLock(service.DatabasePath))
        {
            // The release's record cannot commit (the writer waits out SQLite's busy timeout), so nothing is released.
            var release = await raw.ReleaseAsync(protector.ToJson(), certificate);
            Assert.Equal((503, "AuditUnavailable"), (release.Status, release.Code));
            Assert.Equal(503, release.Body.GetProperty("status").GetInt32());
            Assert.False(release.Body.TryGetProperty("transportKey", out _));
            Assert.Equal(0, await service.ExecuteSqlAsync(Errors));   // WAL: reading works while the writer is locked out
        }

        // The lock is gone: the kept error record is written without any further request.
        await WaitUntilAsync(async () => await service.ExecuteSqlAsync(Errors) == 1, "the error record after the lock was released");
        Assert.Equal(successes, await service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'success'"));
        Assert.Equal(transportKey, (await client.UnlockAsync(protector.ToJson(), CancellationToken.None)).TransportKey);
        var audit = await service.Admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
    }

    [Fact]
    [Trait("Attack", "A77")]
    public async Task Release_and_attestation_while_the_hsm_is_gone_answer_503_KeyStoreUnavailable_are_recorded_and_work_again_when_it_returns()
    {
        using var root = new TempFolder("openhgs-hsm-outage-");
        string data = root["node"];
        using var hsm = new P11KitTokenServers(1);
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--key-store", hsm.MemberUri(0)], environment: null)).Succeeded();

        // A one-member cluster, not the bare pkcs11: URI: after its p11-kit server dies, p11-kit-client answers
        // CKR_DEVICE_ERROR until the module is finalised and loaded again, which only a cluster member's reopen does
        // (docs/hsm-cluster.md, "One HSM behind a network client").
        (HgsConfiguration.Load(data) with { KeyStore = hsm.ClusterUri(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1)) }).Save(data);
        await using var server = await ServerProcess.StartAsync(data);
        using var admin = new AdminClient([server.Url], File.ReadAllText(Path.Combine(data, "admin.token")).Trim());
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(GuardianMetadata.Parse(await admin.ExportGuardianAsync(CancellationToken.None)));
        string keys = root["host-keys"];
        Directory.CreateDirectory(keys);
        await admin.AddHostKeyAsync("host-hsm", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
        new ClientConfiguration([server.Url], [server.Url], keys).Save(root["host-state"]);
        using var client = new GuardedHostClient(root["host-state"]);
        using var raw = new RawProtocol(server.Url);
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        Assert.Equal(200, (await raw.ReleaseAsync(protector.ToJson(), certificate)).Status);

        hsm.Kill(0);
        var release = await raw.ReleaseAsync(protector.ToJson(), certificate);
        Assert.Equal((503, "KeyStoreUnavailable"), (release.Status, release.Code));
        Assert.False(release.Body.TryGetProperty("transportKey", out _));
        var attest = await Assert.ThrowsAsync<HgsClientException>(() => client.AttestAsync(CancellationToken.None));
        Assert.Equal(("KeyStoreUnavailable", (int?)503), (attest.Code, attest.HttpStatus));

        // Logged at once with a stable event id, while the HSM is still away.
        await WaitUntilAsync(() => Task.FromResult(server.Output.Split('\n').Count(l => l.Contains("[1902]", StringComparison.Ordinal) && l.Contains("KeyStoreUnavailable", StringComparison.Ordinal)) >= 2),
            "event 1902 for the failed release and attestation");

        // The HSM returns: the member is reopened and releases work again without a restart.
        hsm.Start(0);
        int failedReleases = 1;   // each answered 503 KeyStoreUnavailable until the member was reopened, each with its record
        await WaitUntilAsync(async () =>
        {
            var answer = await raw.ReleaseAsync(protector.ToJson(), certificate);
            if (answer.Status != 200)
            {
                Assert.Equal((503, "KeyStoreUnavailable"), (answer.Status, answer.Code));
                failedReleases++;
            }

            return answer.Status == 200;
        }, "a release after the HSM returned");
        Assert.Equal(transportKey, (await client.UnlockAsync(protector.ToJson(), CancellationToken.None)).TransportKey);

        // Each failure has its error record with the code the client got (written while the HSM was away, or, when an
        // audit checkpoint fell due meanwhile and could not be signed, as soon as it was back).
        await WaitUntilAsync(async () => (await ErrorRecordsAsync(admin)).Count >= failedReleases + 1, "an error record per failed request");
        var errors = await ErrorRecordsAsync(admin);
        // (Subject "unknown" when the store failed before the health certificate named the host: the settings' row MACs
        // are checked with a key in the key store.)
        Assert.Equal(failedReleases, errors.Count(r => r.Event == "keyprotection.release" && r.Subject is "host-hsm" or "unknown"));
        Assert.Single(errors, r => r.Event == "attestation.attest");
        Assert.Equal(failedReleases + 1, errors.Count);
        Assert.All(errors, r => Assert.Equal("KeyStoreUnavailable", r.Reason));
        var audit = await admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
    }

    private static async Task<List<OpenHgs.Protocol.Wire.AuditRecordInfo>> ErrorRecordsAsync(AdminClient admin) =>
        (await admin.ReadAuditAsync(200, CancellationToken.None)).Where(r => r.Outcome == "error").ToList();

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(200);
        }
    }
}
