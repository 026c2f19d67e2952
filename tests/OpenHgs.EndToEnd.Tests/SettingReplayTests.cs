using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Admin;

namespace OpenHgs.EndToEnd.Tests;

public sealed class SettingReplayTestsOnSqlite() : SettingReplayTests(DatabaseKind.Sqlite);

public sealed class SettingReplayTestsOnPostgres() : SettingReplayTests(DatabaseKind.Postgres);

/// <summary>
/// Design change 64 for settings: a setting row put back from an older copy (its MAC verifies: OpenHGS wrote it once)
/// is refused from the service's next settings read (at most <see cref="SettingsService.CacheLifetime"/> later), because
/// a later audit record set another value; the service fails closed (503 <c>SettingsIntegrity</c>) until the admin sets it.
/// </summary>
public abstract class SettingReplayTests(DatabaseKind database) : OneHostServiceTests(database)
{
    private const string OlderCopy = "is an older copy put back outside OpenHGS (audit record ";

    [Fact]
    [Trait("Attack", "A98")]
    public async Task The_mode_rolled_back_to_host_key_from_an_older_copy_fails_closed_until_the_admin_sets_it()
    {
        await SaveAsync(SettingNames.Mode);
        await Service.Admin.SetModeAsync("tpm", CancellationToken.None);
        await PutBackAsync(SettingNames.Mode);   // host-key again: every host-key registration would attest

        await AssertFailsClosedAsync(SettingNames.Mode);
        await Service.Admin.SetModeAsync("host-key", CancellationToken.None);
        await AssertAttestsAsync();
    }

    [Fact]
    [Trait("Attack", "A98")]
    public async Task A_deny_before_date_rolled_back_to_cleared_from_an_older_copy_fails_closed_until_the_admin_sets_it()
    {
        await SaveAsync(SettingNames.DenyBefore);   // cleared, as init wrote it
        await Service.Admin.SetDenyBeforeAsync(Service.Time.GetUtcNow(), CancellationToken.None);
        await PutBackAsync(SettingNames.DenyBefore);   // certificates from before the compromise would be accepted again

        await AssertFailsClosedAsync(SettingNames.DenyBefore);
        await Service.Admin.SetDenyBeforeAsync(null, CancellationToken.None);
        await AssertAttestsAsync();
    }

    [Fact]
    [Trait("Attack", "A98")]
    public async Task A_policy_version_rolled_back_fails_closed_and_the_next_change_never_reuses_a_version()
    {
        using var tpm = new TpmAdminClient([Service.Url], Service.AdminToken);
        int first = (await tpm.SetPolicyStateAsync("Hgs_KernelCommandLine", "staged", CancellationToken.None)).PolicyVersion;
        await SaveAsync(SettingNames.PolicyVersion);
        Assert.Equal(first + 1, (await tpm.SetPolicyStateAsync("Hgs_KernelCommandLine", "enabled", CancellationToken.None)).PolicyVersion);
        await PutBackAsync(SettingNames.PolicyVersion);

        await AssertFailsClosedAsync(SettingNames.PolicyVersion);
        // The row says `first`; the trail recorded `first + 1`, which nodes may cache for the enabled set: the next is above both.
        Assert.Equal(first + 2, (await tpm.SetPolicyStateAsync("Hgs_KernelCommandLine", "enabled", CancellationToken.None)).PolicyVersion);
        await AssertAttestsAsync();
    }

    [Fact]
    [Trait("Attack", "A98")]
    public async Task A_deleted_policy_version_row_is_not_read_as_version_1_and_the_next_change_repairs_it()
    {
        // Version 1's policy set may still be cached by a node: a deleted row must not bring it back.
        using var tpm = new TpmAdminClient([Service.Url], Service.AdminToken);
        int version = (await tpm.SetPolicyStateAsync("Hgs_KernelCommandLine", "staged", CancellationToken.None)).PolicyVersion;
        await Service.ExecuteSqlAsync($"DELETE FROM settings WHERE name = '{SettingNames.PolicyVersion}'");

        await AssertFailsClosedAsync(SettingNames.PolicyVersion, "is missing (deleted outside OpenHGS; its absence is not read as a default)");
        Assert.Equal(version + 1, (await tpm.SetPolicyStateAsync("Hgs_KernelCommandLine", "enabled", CancellationToken.None)).PolicyVersion);
        await AssertAttestsAsync();
    }

    private async Task AssertFailsClosedAsync(string setting, string problem = OlderCopy)
    {
        Service.Time.Offset += SettingsService.CacheLifetime + TimeSpan.FromSeconds(1);   // the next settings read
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), Keys));
        Assert.Equal((503, "SettingsIntegrity"), (answer.Status, answer.Code));
        Assert.Contains($"The service setting '{setting}' {problem}", answer.Body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private async Task AssertAttestsAsync()
    {
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(await Raw.ChallengeAsync(), Keys));
        Assert.Equal((200, "Passed"), (answer.Status, answer.Code));
    }

    private Task SaveAsync(string setting) =>
        Service.ExecuteSqlAsync($"CREATE TABLE saved_setting AS SELECT value, mac FROM settings WHERE name = '{setting}'");

    /// <summary>Puts the saved row back byte for byte (value and MAC), as a restore of an older copy of the table would.</summary>
    private Task PutBackAsync(string setting) =>
        Service.ExecuteSqlAsync($"UPDATE settings SET value = (SELECT value FROM saved_setting), mac = (SELECT mac FROM saved_setting) WHERE name = '{setting}'");
}
