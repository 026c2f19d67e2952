using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Tpm;

public sealed class TpmRowReplayTestsOnSqlite() : TpmRowReplayTests(DatabaseKind.Sqlite);

public sealed class TpmRowReplayTestsOnPostgres() : TpmRowReplayTests(DatabaseKind.Postgres);

/// <summary>
/// Design change 64 for the TPM rows: an attestation key, baseline, policy state or TPM root put back from an older
/// copy (its MAC still verifies: OpenHGS wrote it once) is refused, because a later audit record removed or replaced it.
/// Each test saves a row with SQL, lets the admin change it, and puts the saved copy back as a database writer would.
/// </summary>
public abstract class TpmRowReplayTests(DatabaseKind database)
{
    private const string OlderCopy = "is an older copy put back outside OpenHGS (audit record ";

    [Fact]
    [Trait("Attack", "A95")]
    public async Task An_attestation_key_put_back_after_its_host_was_removed_and_registered_again_is_refused()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        // Re-registering the same EK needs a new activation (the AK went with the host). Putting the old AK row back
        // would skip it: the TPM still holds that AK.
        await SaveAsync(scenario, "tpm_attestation_keys");
        await scenario.Service.Admin.RemoveHostAsync("host", CancellationToken.None);
        await scenario.Admin.AddHostAsync("host", client.TpmAgent!.Identify(), allowWithoutCertificate: false, CancellationToken.None);
        await PutBackAsync(scenario, "tpm_attestation_keys");

        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "HostRecordIntegrity", "UnauthorizedHost");
        Assert.Contains(OlderCopy, refused.Reasons[0].Message, StringComparison.Ordinal);

        // The remedy is the activation the put-back row tried to skip.
        await client.ActivateTpmAsync(CancellationToken.None);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
    }

    [Fact]
    [Trait("Attack", "A96")]
    public async Task A_removed_baseline_put_back_fails_closed_until_the_admin_removes_it()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        await SaveAsync(scenario, "baselines");
        await scenario.Admin.RemoveBaselineAsync("Rhel8GCE", CancellationToken.None);
        await PutBackAsync(scenario, "baselines");

        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.Admin.ListBaselinesAsync(CancellationToken.None));
        Assert.Equal(("PolicyIntegrity", 503), (refused.Code, refused.HttpStatus));
        Assert.Contains($"The baselines row 'Rhel8GCE' {OlderCopy}", refused.Message, StringComparison.Ordinal);

        await scenario.Admin.RemoveBaselineAsync("Rhel8GCE", CancellationToken.None);
        Assert.Empty(await scenario.Admin.ListBaselinesAsync(CancellationToken.None));
    }

    [Fact]
    [Trait("Attack", "A96")]
    public async Task A_policy_state_rolled_back_to_an_older_copy_fails_closed_until_the_admin_sets_it()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        const string Policy = "Hgs_KernelCommandLine";
        await scenario.Admin.SetPolicyStateAsync(Policy, "staged", CancellationToken.None);
        await SaveAsync(scenario, "policies");
        await scenario.Admin.SetPolicyStateAsync(Policy, "enabled", CancellationToken.None);
        await PutBackAsync(scenario, "policies");

        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.Admin.ListPoliciesAsync(CancellationToken.None));
        Assert.Equal(("PolicyIntegrity", 503), (refused.Code, refused.HttpStatus));
        Assert.Contains($"The policies row '{Policy}' {OlderCopy}", refused.Message, StringComparison.Ordinal);

        await scenario.Admin.SetPolicyStateAsync(Policy, "enabled", CancellationToken.None);
        Assert.Equal("enabled", (await scenario.Admin.ListPoliciesAsync(CancellationToken.None)).Single(p => p.Name == Policy).State);
    }

    [Fact]
    [Trait("Attack", "A97")]
    public async Task A_removed_TPM_root_put_back_is_not_trusted_for_new_registrations()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var roots = await scenario.Admin.ListRootsAsync(CancellationToken.None);
        await SaveAsync(scenario, "tpm_roots");
        foreach (var root in roots)
        {
            await scenario.Admin.RemoveRootAsync(root.Thumbprint, CancellationToken.None);
        }

        await PutBackAsync(scenario, "tpm_roots");
        Assert.Equal(roots.Count, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM tpm_roots"));

        Assert.Empty(await scenario.Admin.ListRootsAsync(CancellationToken.None));
        var refused = await Assert.ThrowsAsync<HgsClientException>(() => scenario.EnrolAsync("through-a-removed-root"));
        Assert.Equal("EkCertificateUntrustedChain", refused.Code);
        Assert.Equal(0, await scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM hosts"));
    }

    private static Task SaveAsync(TpmScenario scenario, string table) =>
        scenario.Service.ExecuteSqlAsync($"CREATE TABLE saved_{table} AS SELECT * FROM {table}");

    /// <summary>Puts the saved rows back, byte for byte (MACs included), over whatever the table holds now.</summary>
    private static async Task PutBackAsync(TpmScenario scenario, string table)
    {
        await scenario.Service.ExecuteSqlAsync($"DELETE FROM {table}");
        await scenario.Service.ExecuteSqlAsync($"INSERT INTO {table} SELECT * FROM saved_{table}");
    }
}
