using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Policies;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Policy states against the real service and swtpm: a host whose real log shows Secure Boot disabled fails
/// Hgs_SecureBootEnabled while it is enabled, passes when it is disabled, passes with a report when it is staged,
/// and every change bumps the policy version the health certificate names.
/// </summary>
public sealed class PolicyStateTests
{
    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Secure_boot_disabled_fails_only_while_its_policy_is_enabled(DatabaseKind database)
    {
        const string Log = "Ubuntu2104NoSecureBootGCE";
        await using var scenario = await TpmScenario.StartAsync(Log, database: database);
        var baseline = await scenario.AddBaselineAsync(Log);
        var host = await scenario.EnrolAsync("insecure", Log);
        using var client = host.Client();

        var enforced = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        var failed = Assert.Single(enforced.Reasons);
        Assert.Equal("Hgs_SecureBootEnabled", failed.Policy);
        Assert.Equal(baseline.PolicyVersion, enforced.PolicyVersion);

        var staged = await scenario.Admin.SetPolicyStateAsync("Hgs_SecureBootEnabled", "staged", CancellationToken.None);
        Assert.Equal(baseline.PolicyVersion + 1, staged.PolicyVersion);
        var reported = await client.AttestAsync(CancellationToken.None);
        Assert.True(reported.Passed);
        var report = Assert.Single(reported.Response.Reasons);
        Assert.Equal(("PolicyStaged", "Hgs_SecureBootEnabled", "info"), (report.Code, report.Policy, report.Severity));
        Assert.Equal(staged.PolicyVersion, PolicyVersionOf(reported.HealthCertificate!));

        var disabled = await scenario.Admin.SetPolicyStateAsync("Hgs_SecureBootEnabled", "disabled", CancellationToken.None);
        var passed = await client.AttestAsync(CancellationToken.None);
        Assert.True(passed.Passed);
        Assert.Empty(passed.Response.Reasons);
        Assert.Equal(disabled.PolicyVersion, PolicyVersionOf(passed.HealthCertificate!));
        Assert.Equal(staged.PolicyVersion + 1, disabled.PolicyVersion);
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Baselines_are_listed_and_a_removed_one_stops_matching_at_the_next_attestation(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var added = await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("rhel");
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        var listed = Assert.Single(await scenario.Admin.ListBaselinesAsync(CancellationToken.None));
        Assert.Equal((added.Name, added.HardwareClass, added.PolicyVersion), (listed.Name, listed.HardwareClass, listed.PolicyVersion));

        var removed = await scenario.Admin.RemoveBaselineAsync(added.Name, CancellationToken.None);
        Assert.Equal(("removed", added.PolicyVersion + 1), (removed.State, removed.PolicyVersion));
        Assert.Empty(await scenario.Admin.ListBaselinesAsync(CancellationToken.None));
        var unmatched = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        Assert.Contains("Hgs_BaselineMatch", unmatched.Reasons.Select(r => r.Policy));
        Assert.Equal(removed.PolicyVersion, unmatched.PolicyVersion);

        // Removing it again is refused by name and changes nothing: no version bump, no audit record.
        long audit = await scenario.Service.AuditCountAsync();
        var missing = await Assert.ThrowsAsync<OpenHgs.Client.HgsClientException>(() => scenario.Admin.RemoveBaselineAsync(added.Name, CancellationToken.None));
        Assert.Equal("BaselineNotFound", missing.Code);
        Assert.Equal(audit, await scenario.Service.AuditCountAsync());
        Assert.Equal(removed.PolicyVersion, (await scenario.Service.Admin.GetSettingsAsync(CancellationToken.None)).PolicyVersion);
    }

    /// <summary>
    /// Another node sharing the database changes the policy set (simulated by writing the tables directly, bumping the
    /// version in the same transaction as PolicyService does): this service's settings and policy caches still hold the
    /// old version, yet the very next attestation is decided under the new one — the attest transaction checks the
    /// version and decides again — without waiting for the settings cache lifetime.
    /// </summary>
    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Another_nodes_policy_and_baseline_changes_apply_to_the_next_attestation(DatabaseKind database)
    {
        const string Log = "Ubuntu2104NoSecureBootGCE";
        await using var scenario = await TpmScenario.StartAsync(Log, database: database);
        var baseline = await scenario.AddBaselineAsync(Log);
        var host = await scenario.EnrolAsync("insecure", Log);
        using var client = host.Client();
        int version = baseline.PolicyVersion;

        var enforced = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        Assert.Equal(("Hgs_SecureBootEnabled", version), (Assert.Single(enforced.Reasons).Policy, enforced.PolicyVersion));

        // Policy disabled elsewhere: passes at once.
        await OtherNodeAsync(scenario, ++version, p => p.SetStateAsync("Hgs_SecureBootEnabled", PolicyState.Disabled, CancellationToken.None));
        var passed = await client.AttestAsync(CancellationToken.None);
        Assert.True(passed.Passed);
        Assert.Empty(passed.Response.Reasons);
        Assert.Equal((version, version), (passed.Response.PolicyVersion, PolicyVersionOf(passed.HealthCertificate!)));

        // Staged elsewhere: passes with the report.
        await OtherNodeAsync(scenario, ++version, p => p.SetStateAsync("Hgs_SecureBootEnabled", PolicyState.Staged, CancellationToken.None));
        var reported = await client.AttestAsync(CancellationToken.None);
        Assert.True(reported.Passed);
        Assert.Equal(("PolicyStaged", "Hgs_SecureBootEnabled"), (Assert.Single(reported.Response.Reasons).Code, Assert.Single(reported.Response.Reasons).Policy));
        Assert.Equal(version, PolicyVersionOf(reported.HealthCertificate!));

        // Baseline removed elsewhere: the policies comparing with baselines fail at once.
        await OtherNodeAsync(scenario, ++version, p => p.RemoveBaselineAsync(baseline.Name, CancellationToken.None));
        var unmatched = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        Assert.Equal(
            ["Hgs_SecureBootSettings", "Hgs_BaselineMatch", "Hgs_BootComponents", "Hgs_SecureBootEnabled"],
            unmatched.Reasons.Select(r => r.Policy));
        Assert.Equal("PolicyStaged", unmatched.Reasons[^1].Code);
        Assert.Equal(version, unmatched.PolicyVersion);

        // Enabled again elsewhere and the baseline registered again here: refused by that policy alone.
        await OtherNodeAsync(scenario, ++version, p => p.SetStateAsync("Hgs_SecureBootEnabled", PolicyState.Enabled, CancellationToken.None));
        var again = await scenario.AddBaselineAsync(Log);
        Assert.Equal(version + 1, again.PolicyVersion);
        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "PolicyFailed", "InsecureHostConfiguration");
        Assert.Equal(("Hgs_SecureBootEnabled", again.PolicyVersion), (Assert.Single(refused.Reasons).Policy, refused.PolicyVersion));
        Assert.Equal(again.PolicyVersion, (await scenario.Service.Admin.GetSettingsAsync(CancellationToken.None)).PolicyVersion);
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Policy_list_has_defaults_and_unknown_policies_are_refused(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var policies = await scenario.Admin.ListPoliciesAsync(CancellationToken.None);
        Assert.Contains(policies, p => p is { Name: "Hgs_SecureBootEnabled", State: "enabled" });
        Assert.Contains(policies, p => p is { Name: "Hgs_BaselineMatch", State: "enabled" });
        Assert.Contains(policies, p => p is { Name: "Hgs_DbxPresent", State: "disabled" });
        Assert.Contains(policies, p => p is { Name: "Hgs_KernelCommandLine", State: "disabled" });

        var unknown = await Assert.ThrowsAsync<OpenHgs.Client.HgsClientException>(() => scenario.Admin.SetPolicyStateAsync("Hgs_Nope", "enabled", CancellationToken.None));
        Assert.Equal("UnknownPolicy", unknown.Code);
        var badState = await Assert.ThrowsAsync<OpenHgs.Client.HgsClientException>(() => scenario.Admin.SetPolicyStateAsync("Hgs_DbxPresent", "sometimes", CancellationToken.None));
        Assert.Equal("UnknownPolicyState", badState.Code);
    }

    /// <summary>A policy change by another node's admin API; it must make exactly the next version.</summary>
    private static Task OtherNodeAsync(TpmScenario scenario, int version, Func<PolicyService, Task<PolicyChangeResult>> change) =>
        scenario.Service.AsOtherNodesPoliciesAsync(async p => Assert.Equal(version, (await change(p)).PolicyVersion));

    private static int PolicyVersionOf(byte[] certificate)
    {
        using var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate);
        return OpenHgs.Protocol.HealthCertificates.HealthCertificateProfile.DecodeVerdict(
            cert.Extensions[OpenHgs.Protocol.HealthCertificates.HealthCertificateProfile.VerdictExtensionOid]!.RawData).PolicyVersion;
    }
}
