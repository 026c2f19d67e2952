using OpenHgs.EndToEnd.Tests.Infrastructure;

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

    private static int PolicyVersionOf(byte[] certificate)
    {
        using var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate);
        return OpenHgs.Protocol.HealthCertificates.HealthCertificateProfile.DecodeVerdict(
            cert.Extensions[OpenHgs.Protocol.HealthCertificates.HealthCertificateProfile.VerdictExtensionOid]!.RawData).PolicyVersion;
    }
}
