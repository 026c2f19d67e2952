using Microsoft.Extensions.DependencyInjection;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Attestation.Tpm;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>A host removed while its attestation's final transaction runs never gets a certificate after its removal.</summary>
public sealed class TpmRaceTestsOnSqlite() : TpmRaceTests(DatabaseKind.Sqlite);

/// <summary>The same race on PostgreSQL (read committed: the rows must be locked).</summary>
public sealed class TpmRaceTestsOnPostgres() : TpmRaceTests(DatabaseKind.Postgres);

public abstract class TpmRaceTests(DatabaseKind database)
{
    [Fact]
    [Trait("Attack", "A28")]
    public async Task Host_removed_during_the_final_transaction_is_ordered_after_the_attestation_or_refuses_it()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("racer");
        using var client = host.Client();
        var service = scenario.Service.Services.GetRequiredService<TpmAttestationService>();

        // In the final transaction, after the host was re-read: the admin removes the host. It may commit before the
        // attestation only if the attestation then refuses; if it has to wait (a locked row), it commits after.
        Task? removal = null;
        service.BeforeCommitForTests = async () =>
        {
            service.BeforeCommitForTests = null;
            removal = scenario.Service.Admin.RemoveHostAsync("racer", CancellationToken.None);
            await RemovedOrWaitingAsync(scenario, removal);
        };

        var outcome = await client.SubmitAsync(client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), CancellationToken.None);
        await removal!;

        long removedAt = await scenario.Service.ExecuteSqlAsync("SELECT MAX(seq) FROM audit_log WHERE event = 'admin.hosts.remove'");
        long passedAt = await scenario.Service.ExecuteSqlAsync("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'success'");
        Assert.True(removedAt > 0);
        if (outcome.Passed)
        {
            Assert.True(passedAt < removedAt, $"a certificate was issued (audit #{passedAt}) after the host was removed (audit #{removedAt})");
        }
        else
        {
            // Answered as AkNotActivated (design change 80); the audit record keeps the precise reason.
            Assert.Equal("AkNotActivated", outcome.Response.Reasons[0].Code);
            Assert.Equal(1, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND outcome = 'refused' AND reason = 'EkNotRegistered'"));
        }
    }

    /// <summary>
    /// Until the removal has committed, or (PostgreSQL) is waiting for a row lock, or (SQLite, whose writer lock holds it
    /// off until the attestation commits) has had a moment to run.
    /// </summary>
    private static async Task RemovedOrWaitingAsync(TpmScenario scenario, Task removal)
    {
        for (int i = 0; i < 100 && !removal.IsCompleted; i++)
        {
            if (scenario.Service.PostgresConnectionString is not null
                && await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()") > 0)
            {
                return;
            }

            await Task.Delay(20);
        }
    }
}
