using System.Text.Json;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation.Tpm;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>Starting AK activations (which needs only a registered EK's public key) cannot grow the activation table.</summary>
public sealed class TpmActivationLimitTestsOnSqlite() : TpmActivationLimitTests(DatabaseKind.Sqlite);

/// <summary>The same with the service on PostgreSQL.</summary>
public sealed class TpmActivationLimitTestsOnPostgres() : TpmActivationLimitTests(DatabaseKind.Postgres);

public abstract class TpmActivationLimitTests(DatabaseKind database)
{
    [Fact]
    [Trait("Attack", "A29")]
    public async Task Pending_activations_are_capped_per_host_and_expired_ones_purged()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("flooded", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        string body = JsonSerializer.Serialize(client.TpmAgent!.CreateKeys(), WireJson.Default.ActivationRequest);
        int cap = new TpmActivationOptions().MaxPendingPerHost;

        for (int i = 0; i < cap; i++)
        {
            Assert.Equal(200, (await raw.PostAsync("attestation/v1/tpm/activate", body)).Status);
        }

        var refused = await raw.PostAsync("attestation/v1/tpm/activate", body);
        Assert.Equal((429, "TooManyPendingActivations"), (refused.Status, refused.Code));
        Assert.Equal(cap, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_activations"));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.tpm.activate' AND outcome = 'refused' AND reason = 'TooManyPendingActivations'"));

        // Once they expired, a new start purges them: the table holds only the new activation.
        scenario.Service.Time.Offset += TpmEnrollmentService.ActivationLifetime + TimeSpan.FromSeconds(5);
        Assert.Equal(200, (await raw.PostAsync("attestation/v1/tpm/activate", body)).Status);
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_activations"));
    }
}
