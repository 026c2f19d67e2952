using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Policies;
using OpenHgs.Storage;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Upgrade;

/// <summary>
/// The current server started on a data folder written by release 044bfe1 (schema 5, before design change 62's explicit
/// settings and policy states and before migration 6), as an operator upgrading in place would (docs/deploy.md §9): it
/// migrates, writes the missing explicit rows once, keeps what the old release set, and the old release's host and key
/// protector keep working. Run once per database the old release could use (<see cref="UpgradeFromOldReleaseTestsOnSqlite"/>,
/// <see cref="UpgradeFromOldReleaseTestsOnPostgres"/>), each on a fixture that release wrote with that database; the
/// fixtures are remade by <c>Upgrade/make-fixture.sh</c> (with <c>--postgres</c> for the PostgreSQL one).
/// </summary>
public abstract class UpgradeFromOldReleaseTests
{
    protected const string OldRelease = "044bfe1";

    /// <summary>The fixture's folder under <c>Upgrade/fixtures</c>.</summary>
    protected abstract string FixtureFolder { get; }

    /// <summary>
    /// Gives the copied fixture's data folder its database, as the old release left it, before the current server first
    /// starts (the test then reads it as the folder's configuration names it, <see cref="AuditedDataFolder"/>).
    /// </summary>
    protected abstract void AttachDatabase(string copiedFixture);

    [Fact]
    public async Task Current_server_upgrades_the_old_data_folder_once_and_the_old_host_still_attests_and_releases_the_same_key()
    {
        using var root = new TempFolder("openhgs-upgrade-");
        string source = OldReleaseFixture.SourceFolder(FixtureFolder);
        var facts = OldReleaseFixture.Load(source);
        Assert.StartsWith(OldRelease, facts.Commit, StringComparison.Ordinal);
        string fixture = root["fixture"];
        OldReleaseFixture.CopyTo(source, fixture);
        string data = Path.Combine(fixture, OldReleaseFixture.DataFolder);
        AttachDatabase(fixture);

        // What the old release left, read before the current server touches the copy: what the upgrade must add follows
        // from the fixture, not from assumptions here.
        int oldVersion = await SchemaVersionAsync(data);
        Assert.True(oldVersion < SqlDialect.CurrentVersion, $"the fixture is at schema {oldVersion}, not older than the current {SqlDialect.CurrentVersion}: it was not made by an old release");
        Assert.Empty(await ExplicitRecordsAsync(data, AuditEvents.SettingsMadeExplicit));
        Assert.Empty(await ExplicitRecordsAsync(data, AuditEvents.PolicyStatesMadeExplicit));
        var oldSettings = await ColumnAsync(data, "SELECT name FROM settings");
        var oldPolicies = await ColumnAsync(data, "SELECT name FROM policies");
        // The old release stored the validity it was told: the upgrade must keep that row, not write the default over it.
        Assert.Contains(SettingNames.ValidityMinutes, oldSettings);
        string[] settingsToWrite = [.. ExplicitSettings.Defaults.Select(d => d.Name).Where(name => !oldSettings.Contains(name)).Order(StringComparer.Ordinal)];
        string[] policiesToWrite = [.. PolicyCatalog.All.Select(p => p.Name).Where(name => !oldPolicies.Contains(name)).Order(StringComparer.Ordinal)];
        Assert.NotEmpty(settingsToWrite);   // else the fixture would not exercise the writing of defaults at all
        Assert.NotEmpty(policiesToWrite);
        long oldAttestations = await CountAuditAsync(data, "attestation.attest", facts.HostName);
        Assert.Equal(1, oldAttestations);

        var environment = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN_FILE"] = Path.Combine(fixture, facts.AdminTokenFile) };
        var ready = new ServerProcessOptions { ReadinessPath = "healthz/ready" };

        await using (var server = await ServerProcess.StartAsync(data, ready))
        {
            environment["HGS_URL"] = server.Url;
            Assert.Equal(SqlDialect.CurrentVersion, await SchemaVersionAsync(data));

            var settingsRecord = Assert.Single(await ExplicitRecordsAsync(data, AuditEvents.SettingsMadeExplicit));
            Assert.Equal("upgrade", settingsRecord.GetProperty("context").GetString());
            Assert.Equal(settingsToWrite, WrittenNames(settingsRecord));
            var policiesRecord = Assert.Single(await ExplicitRecordsAsync(data, AuditEvents.PolicyStatesMadeExplicit));
            Assert.Equal("upgrade", policiesRecord.GetProperty("context").GetString());
            Assert.Equal(policiesToWrite, WrittenNames(policiesRecord));

            var settings = (await HgsCli.RunAsync(["server", "settings", "--json"], environment)).Succeeded().Json();
            Assert.Equal(facts.ValidityMinutes, (int)settings["healthCertificateValidityMinutes"]!);

            // The host's own state from the old release, pointed at this server's port.
            OldReleaseFixture.RepointHostState(fixture, server.Url);
            string state = Path.Combine(fixture, OldReleaseFixture.HostStateFolder);
            var attested = (await HgsCli.RunAsync(["client", "attest", "--state", state, "--json"], environment)).Succeeded().Json();
            Assert.Equal("Passed", (string?)attested["status"]);
            Assert.Equal(oldAttestations + 1, await CountAuditAsync(data, "attestation.attest", facts.HostName));
            // The preserved validity is the one the new certificate carries (not-before is back-dated by the clock skew).
            using (var certificate = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(state, "health.cer")))
            {
                var lifetime = certificate.NotAfter - certificate.NotBefore - HealthCertificateProfile.NotBeforeSkew;
                Assert.Equal(TimeSpan.FromMinutes(facts.ValidityMinutes), lifetime);
            }

            string released = root["vm1.released"];
            (await HgsCli.RunAsync(["client", "unlock", "--state", state, "--kp", Path.Combine(fixture, OldReleaseFixture.KeyProtectorFile), "--out", released], environment)).Succeeded();
            Assert.Equal(facts.ReleasedTransportKeySha256, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(released))));

            await AssertAuditVerifiesAsync(environment);
            Assert.Equal(0, await server.StopAsync());
        }

        // A second start finds every explicit row and writes nothing more.
        await using (var restarted = await ServerProcess.StartAsync(data, ready))
        {
            environment["HGS_URL"] = restarted.Url;
            Assert.Single(await ExplicitRecordsAsync(data, AuditEvents.SettingsMadeExplicit));
            Assert.Single(await ExplicitRecordsAsync(data, AuditEvents.PolicyStatesMadeExplicit));
            await AssertAuditVerifiesAsync(environment);
        }
    }

    private static async Task AssertAuditVerifiesAsync(IReadOnlyDictionary<string, string?> environment)
    {
        var report = (await HgsCli.RunAsync(["audit", "verify", "--json"], environment)).Succeeded().Json();
        Assert.True((bool)report["valid"]!, report.ToJsonString());
    }

    private static async Task<int> SchemaVersionAsync(string data) =>
        Convert.ToInt32((await AuditedDataFolder.QueryAsync(data, "SELECT MAX(version) FROM schema_version", r => r.GetValue(0))).Single(), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<long> CountAuditAsync(string data, string auditEvent, string subject) =>
        Convert.ToInt64((await AuditedDataFolder.QueryAsync(data, "SELECT COUNT(*) FROM audit_log WHERE event = @e AND subject = @s AND outcome = 'success'", r => r.GetValue(0), ("@e", auditEvent), ("@s", subject))).Single(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The details of every audit record of <paramref name="auditEvent"/>.</summary>
    private static async Task<List<JsonElement>> ExplicitRecordsAsync(string data, string auditEvent) =>
        [.. (await ColumnAsync(data, "SELECT details FROM audit_log WHERE event = @e ORDER BY seq", ("@e", auditEvent))).Select(ParseDetails)];

    /// <summary>Every value of a one-column query of the data folder's database.</summary>
    private static Task<List<string>> ColumnAsync(string data, string sql, params (string Name, object Value)[] parameters) =>
        AuditedDataFolder.QueryAsync(data, sql, r => r.GetString(0), parameters);

    private static JsonElement ParseDetails(string details)
    {
        using var document = JsonDocument.Parse(details);
        return document.RootElement.Clone();
    }

    private static string[] WrittenNames(JsonElement details) =>
        [.. (details.GetProperty("written").GetString() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
}

/// <summary>The old release's default database: SQLite in the data folder.</summary>
public sealed class UpgradeFromOldReleaseTestsOnSqlite : UpgradeFromOldReleaseTests
{
    protected override string FixtureFolder => OldRelease;

    protected override void AttachDatabase(string copiedFixture)
    {
        // The old release kept it in the data folder (hgs.db), which the copy already holds.
    }
}

/// <summary>PostgreSQL, as clusters use: the fixture's dump restored into a database of the tests' server.</summary>
public sealed class UpgradeFromOldReleaseTestsOnPostgres : UpgradeFromOldReleaseTests
{
    protected override string FixtureFolder => OldRelease + "-postgres";

    /// <summary>A fresh database of the tests' server holding the fixture's dump; the copied <c>hgs.json</c> named the fixture run's throwaway server.</summary>
    protected override void AttachDatabase(string copiedFixture) =>
        OldReleaseFixture.RepointDatabase(copiedFixture, "postgres:" + PostgresServer.Instance.CreateDatabaseFromDump("upgrade", Path.Combine(copiedFixture, OldReleaseFixture.PostgresDumpFile)));
}
