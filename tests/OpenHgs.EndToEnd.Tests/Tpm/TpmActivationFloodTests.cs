using System.Text.Json;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>Starting AK activations needs only a registered EK's public key: starts store nothing and block nobody (design change 74).</summary>
public sealed class TpmActivationFloodTestsOnSqlite() : TpmActivationFloodTests(DatabaseKind.Sqlite);

/// <summary>The same with the service on PostgreSQL.</summary>
public sealed class TpmActivationFloodTestsOnPostgres() : TpmActivationFloodTests(DatabaseKind.Postgres);

public abstract class TpmActivationFloodTests(DatabaseKind database)
{
    private const string Writes = "SELECT (SELECT COUNT(*) FROM used_nonces) + (SELECT COUNT(*) FROM tpm_attestation_keys)";

    [Fact]
    [Trait("Attack", "A29")]
    public async Task A_strangers_starts_write_nothing_and_do_not_keep_the_host_from_activating()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("flooded", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        string body = JsonSerializer.Serialize(client.TpmAgent!.CreateKeys(), WireJson.Default.ActivationRequest);
        long records = await scenario.Service.AuditCountAsync();

        // Far more starts than the per-host cap of pending activations this replaced (8): each answered, none stored.
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(200, (await raw.PostAsync("attestation/v1/tpm/activate", body)).Status);
        }

        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync(Writes));
        Assert.Equal(records, await scenario.Service.AuditCountAsync());

        // The starts buy the stranger nothing: without the TPM, a completion is a guess, refused and audited.
        var guessed = await raw.PostAsync("attestation/v1/tpm/activate/complete",
            JsonSerializer.Serialize(client.TpmAgent.Completion(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), WireJson.Default.ActivationCompletion));
        Assert.Equal((403, "ActivationInvalid"), (guessed.Status, guessed.Code));
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync(Writes));

        // The host activates as if nobody had asked, and attests.
        await client.ActivateTpmAsync(CancellationToken.None);
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));
    }

    [Fact]
    [Trait("Attack", "A13")]
    public async Task A_credential_completes_once_and_only_for_the_ak_it_was_made_for()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var host = await scenario.EnrolAsync("once", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        var agent = client.TpmAgent!;
        var start = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(agent.CreateKeys(), WireJson.Default.ActivationRequest));
        byte[] credential = agent.Activate(start.Body.Deserialize(WireJson.Default.ActivationChallenge)!);
        var completion = agent.Completion(credential);

        // Recovered by the TPM, but presented with another key as the AK: the credential's MAC binds the AK it was made for.
        var otherAk = completion with { AkPublic = completion.EkPublic };
        var moved = await raw.PostAsync("attestation/v1/tpm/activate/complete", JsonSerializer.Serialize(otherAk, WireJson.Default.ActivationCompletion));
        Assert.Equal((403, "ActivationInvalid"), (moved.Status, moved.Code));
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));

        string body = JsonSerializer.Serialize(completion, WireJson.Default.ActivationCompletion);
        Assert.Equal(200, (await raw.PostAsync("attestation/v1/tpm/activate/complete", body)).Status);
        long activations = await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'admin.hosts.add' AND details LIKE '%akName%'");

        // The same completion again, replayed: refused, audited, and nothing changes.
        var replayed = await raw.PostAsync("attestation/v1/tpm/activate/complete", body);
        Assert.Equal((403, "ActivationInvalid"), (replayed.Status, replayed.Code));
        Assert.Contains("already used", replayed.Body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(activations, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'admin.hosts.add' AND details LIKE '%akName%'"));
        Assert.Equal(2, await scenario.Service.ExecuteSqlAsync(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.tpm.activate' AND outcome = 'refused' AND reason = 'ActivationInvalid'"));
    }
}
