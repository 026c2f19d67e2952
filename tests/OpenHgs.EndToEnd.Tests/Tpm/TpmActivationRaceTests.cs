using System.Text.Json;
using Npgsql;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Design change 74's review fix on PostgreSQL (read committed, so only a row lock orders them): an AK activation's
/// completion locks its host row, so it cannot write its AK between a removal of the host and that removal's commit.
/// The race is driven by the database itself: the test holds the host row lock in a transaction of its own, lets the
/// completion and the removal queue behind it in either order (each seen waiting in <c>pg_stat_activity</c>), then
/// lets go. Either order must leave no AK that a re-registration of the name with another EK could use.
/// </summary>
/// <remarks>SQLite needs no such test: its one writer lock serialises the two transactions whole.</remarks>
public sealed class TpmActivationRaceTests
{
    // The statements as pg_stat_activity shows them while they wait (the completion's locked read, the removal's delete).
    private const string CompletionLock = "%FROM hosts WHERE key_thumbprint = $1 FOR UPDATE%";
    private const string RemovalDelete = "%DELETE FROM hosts WHERE name = $1%";

    [Fact]
    [Trait("Attack", "A128")]
    public async Task A_completion_waits_for_the_host_row_and_committed_first_its_ak_goes_with_the_removal()
    {
        await using var scenario = await TpmScenario.StartAsync(database: DatabaseKind.Postgres);
        var (oldHost, completion) = await StartedActivationAsync(scenario);
        using var raw = new RawProtocol(scenario.Service.Url);

        Task<RawAnswer> completing;
        Task removing;
        await using (await HeldHostRow.LockAsync(scenario))
        {
            completing = Complete(raw, completion);
            await WaitsForTheHostRowAsync(scenario, CompletionLock, completing, "the completion");
            removing = scenario.Service.Admin.RemoveHostAsync("racer", CancellationToken.None);
            await WaitsForTheHostRowAsync(scenario, RemovalDelete, removing, "the removal");
        }

        // The completion queued first: it commits its AK, and the removal, which then deletes the row, removes the AK too.
        Assert.Equal(200, (await completing).Status);
        await removing;
        Assert.True(
            await AuditSeqAsync(scenario, "event = 'admin.hosts.add' AND details LIKE '%akName%'") < await AuditSeqAsync(scenario, "event = 'admin.hosts.remove'"),
            "the activation is audited before the removal that undid it");
        await AssertNotInheritedAsync(scenario, oldHost);
    }

    [Fact]
    [Trait("Attack", "A128")]
    public async Task A_completion_queued_behind_a_removal_is_refused_ek_not_registered_and_writes_no_ak()
    {
        await using var scenario = await TpmScenario.StartAsync(database: DatabaseKind.Postgres);
        var (oldHost, completion) = await StartedActivationAsync(scenario);
        using var raw = new RawProtocol(scenario.Service.Url);

        Task removing;
        Task<RawAnswer> completing;
        await using (await HeldHostRow.LockAsync(scenario))
        {
            removing = scenario.Service.Admin.RemoveHostAsync("racer", CancellationToken.None);
            await WaitsForTheHostRowAsync(scenario, RemovalDelete, removing, "the removal");
            completing = Complete(raw, completion);
            await WaitsForTheHostRowAsync(scenario, CompletionLock, completing, "the completion");
        }

        // The removal queued first and commits; the completion's locked read then finds no host for its EK.
        await removing;
        var refused = await completing;
        Assert.Equal((403, "EkNotRegistered"), (refused.Status, refused.Code));
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync(
            "SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.tpm.activate' AND outcome = 'refused' AND reason = 'EkNotRegistered'"));
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'admin.hosts.add' AND details LIKE '%akName%'"));
        await AssertNotInheritedAsync(scenario, oldHost);
    }

    /// <summary>Host "racer" registered on the scenario's TPM, and the completion its TPM recovered for a new AK (not sent yet).</summary>
    private static async Task<(HostHarness Host, string Completion)> StartedActivationAsync(TpmScenario scenario)
    {
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("racer", activate: false);
        using var client = host.Client();
        using var raw = new RawProtocol(scenario.Service.Url);
        var agent = client.TpmAgent!;
        var start = await raw.PostAsync("attestation/v1/tpm/activate", JsonSerializer.Serialize(agent.CreateKeys(), WireJson.Default.ActivationRequest));
        Assert.Equal(200, start.Status);
        byte[] credential = agent.Activate(start.Body.Deserialize(WireJson.Default.ActivationChallenge)!);
        return (host, JsonSerializer.Serialize(agent.Completion(credential), WireJson.Default.ActivationCompletion));
    }

    private static Task<RawAnswer> Complete(RawProtocol raw, string completion) =>
        Task.Run(() => raw.PostAsync("attestation/v1/tpm/activate/complete", completion));


    /// <summary>
    /// Until <paramref name="request"/>'s statement waits for a lock (the host row's, which only the test's transaction
    /// and the requests before it hold); fails if the request finishes first, i.e. did not wait for the row.
    /// </summary>
    private static async Task WaitsForTheHostRowAsync(TpmScenario scenario, string statement, Task request, string what)
    {
        for (int i = 0; i < 1000; i++)
        {
            if (request.IsCompleted)
            {
                Assert.Fail($"{what} finished while the test held the host row lock: it did not wait for the row ({request.Status}).");
            }

            if (await scenario.Service.ExecuteSqlAsync(
                $"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '{statement}'") > 0)
            {
                return;
            }

            await Task.Delay(10);
        }

        Assert.Fail($"{what} was never seen waiting for the host row lock.");
    }

    private static Task<long> AuditSeqAsync(TpmScenario scenario, string where) =>
        scenario.Service.ExecuteSqlAsync($"SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE {where}");

    /// <summary>
    /// The name registered again with another TPM's EK: no AK row for it, and evidence from the removed host's TPM
    /// (signed by the AK it tried to activate) presented under the new EK is refused <c>AkNotActivated</c> — the
    /// old AK is not the new registration's.
    /// </summary>
    private static async Task AssertNotInheritedAsync(TpmScenario scenario, HostHarness oldHost)
    {
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));
        var otherTpm = scenario.AnotherTpm();
        await scenario.RegisterRootsOfAsync(otherTpm);
        var newHost = await scenario.EnrolAsync("racer-new-tpm", tpm: otherTpm, register: false, activate: false);
        using var newClient = newHost.Client();
        var newIdentity = newClient.TpmAgent!.Identify();
        await scenario.Admin.AddHostAsync("racer", newIdentity, allowWithoutCertificate: false, CancellationToken.None);
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_attestation_keys"));

        using var oldClient = oldHost.Client();
        var evidence = oldClient.BuildEvidence(await oldClient.ChallengeAsync(CancellationToken.None));
        var outcome = await oldClient.SubmitAsync(evidence with { Tpm = evidence.Tpm! with { EkPublic = newIdentity.EkPublic } }, CancellationToken.None);
        Assert.False(outcome.Passed);
        Assert.Equal("AkNotActivated", outcome.Response.Reasons[0].Code);
    }
}

/// <summary>A transaction of the test's own holding host "racer"'s row lock (as the completion's locked read takes it) until disposed, then rolled back.</summary>
internal sealed class HeldHostRow : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private HeldHostRow(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        _connection = connection;
        _transaction = transaction;
    }

    public static async Task<HeldHostRow> LockAsync(TpmScenario scenario)
    {
        var connection = new NpgsqlConnection(scenario.Service.PostgresConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand("SELECT name FROM hosts WHERE name = 'racer' FOR UPDATE", connection, transaction);
        Assert.Equal("racer", await command.ExecuteScalarAsync());
        return new HeldHostRow(connection, transaction);
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.RollbackAsync();
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
