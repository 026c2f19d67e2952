using System.Diagnostics;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// The database goes away under a running service: requests fail fast with 503 and a clear code, nothing is
/// released without its audit record, and the service recovers by itself when the database returns.
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
        using var client = host.Client();
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        Assert.Equal(transportKey, (await client.UnlockAsync(protector.ToJson(), CancellationToken.None)).TransportKey);

        postgres.Stop();
        try
        {
            var watch = Stopwatch.StartNew();
            var challenge = await raw.PostAsync("attestation/v1/challenge", "{}");
            Assert.Equal(503, challenge.Status);
            Assert.Equal("DatabaseUnavailable", challenge.Code);

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
        var audit = await service.Admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
        Assert.Equal(0, await service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND reason LIKE '%Unavailable%'"));
    }
}
