using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Admin;

public sealed class SqliteExplicitSettingsTests() : ExplicitSettingsTests(TestDatabase.Sqlite("settings"));

public sealed class PostgresExplicitSettingsTests() : ExplicitSettingsTests(TestDatabase.Postgres("settings"));

/// <summary>
/// Design change 62: the settings whose absence would weaken a check always have rows. A fabric from before gets their
/// defaults once (audited); after that a deleted row is never rewritten and reading the settings fails closed.
/// </summary>
public abstract class ExplicitSettingsTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    /// <summary>A fabric as an earlier release left it: switched to TPM mode, never given a deny-before date or a validity.</summary>
    protected override async Task SetUpAsync()
    {
        await Database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(SettingNames.FabricName, "Fabric from before");
            await s.Settings.SetAsync(SettingNames.Mode, "tpm");
            return 0;
        }, CancellationToken.None);
    }

    [Fact]
    public async Task A_fabric_from_before_gets_the_old_defaults_once_and_the_audit_trail_says_so()
    {
        var first = await EnsureAsync();
        Assert.Equal([SettingNames.DenyBefore, SettingNames.ValidityMinutes], first.Written);
        Assert.Empty(first.Deleted);
        Assert.Equal(("tpm", "0", "480"), await RowsAsync());
        var record = Assert.Single(await MadeExplicitRecordsAsync());
        Assert.Equal("{\"context\":\"upgrade\",\"written\":\"deny-before,health-certificate-validity-minutes\"}", AdminRecordSeal.Unseal(record.Details)?.Details);

        // The values the service used for absent rows before, now read from rows.
        var settings = await new SettingsService(Database, TimeProvider.System).GetAsync(CancellationToken.None);
        Assert.Equal((AttestationMode.Tpm, (DateTimeOffset?)null, TimeSpan.FromHours(8)), (settings.Mode, settings.DenyBefore, settings.Validity));

        Assert.Same(ExplicitRowsResult.Complete, await EnsureAsync());
        Assert.Single(await MadeExplicitRecordsAsync());
    }

    [Theory]
    [Trait("Attack", "A91")]
    [InlineData("mode")]
    [InlineData("deny-before")]
    [InlineData("health-certificate-validity-minutes")]
    public async Task A_row_deleted_after_its_first_writing_is_not_rewritten_and_the_settings_fail_closed(string name)
    {
        await EnsureAsync();
        await ExecuteAsync($"DELETE FROM settings WHERE name = '{name}'");

        // Not back to a default (mode: TPM would become host-key), whoever restarts the service.
        var again = await EnsureAsync();
        Assert.Empty(again.Written);
        Assert.Equal([name], again.Deleted);
        Assert.Null(await Database.ReadAsync(s => s.Settings.GetAsync(name), CancellationToken.None));
        Assert.Single(await MadeExplicitRecordsAsync());

        var refused = await Assert.ThrowsAsync<ServiceException>(() => new SettingsService(Database, TimeProvider.System).GetAsync(CancellationToken.None));
        Assert.Equal(RowIntegrityProblems.SettingsIntegrity, refused.Code);
        Assert.Equal(
            $"The service setting '{name}' is missing (deleted outside OpenHGS; its absence is not read as a default); the service fails closed until an admin sets it again.",
            refused.Message);
    }

    [Fact]
    public async Task A_cleared_deny_before_date_is_a_row_of_its_own_and_reads_as_none()
    {
        await EnsureAsync();
        var settings = new SettingsService(Database, TimeProvider.System);
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);
        await settings.SetDenyBeforeAsync(at, CancellationToken.None);
        Assert.Equal(at, (await settings.GetAsync(CancellationToken.None)).DenyBefore);

        await settings.SetDenyBeforeAsync(null, CancellationToken.None);
        Assert.Equal(ExplicitSettings.NoDenyBefore, await Database.ReadAsync(s => s.Settings.GetAsync(SettingNames.DenyBefore), CancellationToken.None));
        Assert.Null((await settings.GetAsync(CancellationToken.None)).DenyBefore);
        var cleared = (await Database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, AuditEvents.SettingChanged, null, 1)), CancellationToken.None)).Single();
        Assert.Equal("{\"value\":null}", AdminRecordSeal.Unseal(cleared.Details)?.Details);
    }

    [Fact]
    public async Task A_row_that_fails_its_mac_is_left_for_the_reader_to_refuse()
    {
        await ExecuteAsync("UPDATE settings SET value = 'host-key' WHERE name = 'mode'");
        var result = await EnsureAsync();
        Assert.DoesNotContain(SettingNames.Mode, result.Written);
        Assert.Equal("host-key", await RawValueAsync(SettingNames.Mode));

        var refused = await Assert.ThrowsAsync<ServiceException>(() => new SettingsService(Database, TimeProvider.System).GetAsync(CancellationToken.None));
        Assert.Equal(RowIntegrityProblems.SettingsIntegrity, refused.Code);
        Assert.Contains("'mode' was changed outside OpenHGS", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nodes_starting_together_write_the_defaults_once()
    {
        var nodes = Enumerable.Range(0, 4).Select(_ => Db.Open()).ToList();
        try
        {
            var results = await Task.WhenAll(nodes.Select(n => n.InTransactionAsync(s => ExplicitSettings.EnsureAsync(s, "upgrade"), CancellationToken.None)));
            Assert.Single(results, r => r.Written.Count == 2);
            Assert.All(results.Where(r => r.Written.Count == 0), r => Assert.Same(ExplicitRowsResult.Complete, r));
            Assert.Single(await MadeExplicitRecordsAsync());
        }
        finally
        {
            nodes.ForEach(n => n.Dispose());
        }
    }

    private Task<ExplicitRowsResult> EnsureAsync() =>
        Database.InTransactionAsync(s => ExplicitSettings.EnsureAsync(s, "upgrade"), CancellationToken.None);

    private Task<List<AuditEntry>> MadeExplicitRecordsAsync() =>
        Database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, AuditEvents.SettingsMadeExplicit, null, 10)), CancellationToken.None);

    private async Task<(string?, string?, string?)> RowsAsync() =>
        (await RawValueAsync(SettingNames.Mode), await RawValueAsync(SettingNames.DenyBefore), await RawValueAsync(SettingNames.ValidityMinutes));

    private async Task<string?> RawValueAsync(string name) => (string?)await Db.ScalarAsync($"SELECT value FROM settings WHERE name = '{name}'");

    private Task ExecuteAsync(string sql) => Db.ExecuteAsync(sql);
}
