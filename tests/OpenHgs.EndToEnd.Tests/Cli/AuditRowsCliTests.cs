using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Admin;

namespace OpenHgs.EndToEnd.Tests.Cli;

public sealed class AuditRowsCliTestsOnSqlite() : AuditRowsCliTests(DatabaseKind.Sqlite);

public sealed class AuditRowsCliTestsOnPostgres() : AuditRowsCliTests(DatabaseKind.Postgres);

/// <summary>
/// <c>hgs audit rows</c> (design change 66): every security-relevant row checked against its MAC and the audit trail,
/// each row that fails named with what happened to it, and a non-zero exit; a sound fabric passes. It only reads.
/// </summary>
public abstract class AuditRowsCliTests(DatabaseKind database) : OneHostServiceTests(database)
{
    [Fact]
    public async Task A_sound_fabric_has_no_findings_and_exits_zero()
    {
        var result = (await RunAsync("audit", "rows")).Succeeded();
        Assert.Matches(@"^\d+ rows checked; 0 fail their integrity check\.\n$", result.StdOut);

        var report = (await RunAsync("audit", "rows", "--json")).Succeeded().Json();
        Assert.True((bool)report["valid"]!);
        Assert.True((int)report["rows"]! >= 8, "the settings, the fabric keys and the host were read");
        Assert.Empty(report["findings"]!.AsArray());
    }

    [Fact]
    [Trait("Attack", "A102")]
    public async Task Every_changed_missing_or_put_back_row_is_named_at_once_and_nothing_changes()
    {
        await Service.AddHostAsync("host-b");
        await Service.ExecuteSqlAsync("CREATE TABLE saved_hosts AS SELECT * FROM hosts WHERE name = 'host-b'");
        await Service.Admin.RemoveHostAsync("host-b", CancellationToken.None);
        await Service.ExecuteSqlAsync("INSERT INTO hosts SELECT * FROM saved_hosts");                                   // superseded
        await Service.ExecuteSqlAsync("UPDATE hosts SET added_at = added_at + 1 WHERE name = 'host-a'");                 // changed
        await Service.ExecuteSqlAsync($"DELETE FROM settings WHERE name = '{SettingNames.ValidityMinutes}'");           // missing
        long removal = await Service.ExecuteSqlAsync("SELECT MAX(seq) FROM audit_log WHERE event = 'admin.hosts.remove'");
        long records = await Service.AuditCountAsync();

        var failed = await RunAsync("audit", "rows");
        string error = failed.FailedWithOneErrorLine(1);
        Assert.Equal($"error: 3 row(s) fail their integrity check, first settings/{SettingNames.ValidityMinutes} (missing)", error);
        Assert.Contains($"missing    settings/{SettingNames.ValidityMinutes}: The settings row '{SettingNames.ValidityMinutes}' is missing (deleted outside OpenHGS).", failed.StdOut, StringComparison.Ordinal);
        Assert.Contains("changed    hosts/host-a: The hosts row 'host-a' was changed outside OpenHGS (its MAC does not verify).", failed.StdOut, StringComparison.Ordinal);
        Assert.Contains($"superseded hosts/host-b: The hosts row 'host-b' is an older copy put back outside OpenHGS (audit record {removal} removed or replaced it).", failed.StdOut, StringComparison.Ordinal);

        var report = (await RunAsync("audit", "rows", "--json")).Expect(1).Json();
        Assert.False((bool)report["valid"]!);
        Assert.Equal(
            [("settings", SettingNames.ValidityMinutes, "missing", (long?)null), ("hosts", "host-a", "changed", null), ("hosts", "host-b", "superseded", removal)],
            report["findings"]!.AsArray().Select(f => ((string)f!["table"]!, (string)f["key"]!, (string)f["problem"]!, (long?)f["supersededBy"])));
        Assert.Equal(records, await Service.AuditCountAsync());
    }

    private Task<CliResult> RunAsync(params string[] args) =>
        HgsCli.RunAsync(args, new Dictionary<string, string?> { ["HGS_URL"] = Service.Url, ["HGS_ADMIN_TOKEN"] = Service.AdminToken });
}
