using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Client.Tpm;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>Backup and restore with the fabric on SQLite (the embedded default).</summary>
public sealed class BackupRestoreCliTestsOnSqlite(AuditedDataFolder folder) : BackupRestoreCliTests(folder), IClassFixture<AuditedDataFolder>;

/// <summary>The same with the fabric on PostgreSQL.</summary>
public sealed class BackupRestoreCliTestsOnPostgres(AuditedPostgresDataFolder folder) : BackupRestoreCliTests(folder), IClassFixture<AuditedPostgresDataFolder>;

/// <summary>A SQLite fabric's backup restored onto PostgreSQL (the database-neutral format).</summary>
public sealed class BackupSqliteToPostgresCliTests(AuditedDataFolder folder) : IClassFixture<AuditedDataFolder>
{
    [Fact]
    public async Task A_sqlite_backup_restored_into_postgresql_serves_the_host_and_the_audit_trail_verifies()
    {
        string data = folder.Copy();
        string file = await BackupRestoreCliTests.BackupAsync(data);
        var configuration = HgsConfiguration.Load(data);
        (configuration with { Database = HgsRuntime.DatabaseSpecFrom(PostgresServer.Instance.CreateDatabase("restored")) }).Save(data);

        var restored = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--json")).Succeeded().Json();
        Assert.Equal("sqlite", (string?)restored["sourceProvider"]);
        Assert.False((bool)restored["replaced"]!);
        await BackupRestoreCliTests.HostUnlocksAndAuditVerifiesAsync(folder, data, folder.Records + 1);
    }
}

/// <summary>
/// <c>hgs server backup|restore</c> (issue 10 §4): a backup restored into a destroyed database gives back a fabric whose
/// host attests and unlocks and whose audit trail verifies; every tampered backup is refused with its code and leaves the
/// target exactly as it was; a backup refuses a database that does not verify.
/// </summary>
public abstract class BackupRestoreCliTests(AuditedDataFolder folder)
{
    [Fact]
    public async Task Backup_destroy_restore_and_the_host_still_attests_and_unlocks_and_the_audit_trail_verifies()
    {
        string data = folder.Copy();
        var backup = await HgsCli.RunAsync("server", "backup", "--data", data, "--out", Path.Combine(data, "..", $"b-{Guid.NewGuid():N}.jsonl"), "--json");
        var report = backup.Succeeded().Json();
        string file = (string)report["file"]!;
        Assert.Equal(folder.Records, (long)report["auditRecords"]!);
        var labels = report["hsmKeys"]!.AsArray().Select(k => (string)k!["label"]!).ToList();
        Assert.Contains(KeyStoreRowAuthenticator.MacKeyLabel, labels);
        Assert.Equal(5, labels.Count); // row-MAC, checkpoint and the three fabric keys: named, never exported
        string text = await File.ReadAllTextAsync(file);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);

        await DestroyAsync(data);
        var restored = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--json")).Succeeded().Json();
        Assert.False((bool)restored["replaced"]!);
        Assert.Equal(folder.Records, (long)restored["auditRecords"]!);

        // The backup's own record (in the source after the snapshot) is not in it; the restore's record is.
        await HostUnlocksAndAuditVerifiesAsync(folder, data, folder.Records + 1);
    }

    [Fact]
    public async Task A_backup_holding_a_forged_admin_record_restores_the_record_is_not_believed_and_the_guard_is_back()
    {
        // A record forged after the marker (the trigger dropped first) is in every backup made since: such a backup still
        // restores (design change 67), the record is named by hgs audit rows, and the restore puts the trigger back.
        string data = folder.Copy();
        await AuditedDataFolder.DropSealGuardAsync(data);
        long forged = await AuditedDataFolder.AppendOutsideAsync(data, new AuditEvent("admin.hosts.remove", "success", "audited-host", null, "{\"mode\":\"host-key\"}"));
        string file = await BackupAsync(data);
        await DestroyAsync(data);
        (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--json")).Succeeded();

        var refused = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() =>
            AuditedDataFolder.AppendOutsideAsync(data, new AuditEvent("admin.hosts.remove", "success", "audited-host", null, "{}")));
        Assert.Contains(SqlDialect.SealedAdminRecordsRefusal, refused.Message, StringComparison.Ordinal);

        await using var server = await ServerProcess.StartAsync(data);
        var rows = await HgsCli.RunAsync(["audit", "rows"], new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken });
        Assert.Equal("error: 1 row(s) fail their integrity check, first audit_log/" + forged + " (forged)", rows.FailedWithOneErrorLine(1));
    }

    [Theory]
    [InlineData(SqlDialect.StatelessChallengeVersion)]
    [InlineData(SqlDialect.AdminRecordSealVersion)]
    [InlineData(SqlDialect.TpmCrlVersion)]
    public async Task A_backup_made_at_an_older_schema_restores_and_tables_added_since_restore_empty(int schema)
    {
        // Migrations 6-8 add indexes and a trigger, not tables or columns: a backup a schema-5 to 8 release made holds
        // what this release backs up but for tpm_crls (migration 9), which it does not list, and the hosts' EK columns
        // (migration 10), which it has no values for. It must restore: the target is migrated first, so it has the
        // indexes, an empty tpm_crls and hosts without EK certificates, whose rows keep the MAC they had.
        string data = folder.Copy();
        string file = await BackupAsync(data);
        var lines = (await File.ReadAllTextAsync(file)).Split('\n').ToList();
        Assert.Contains($"\"schemaVersion\":{SqlDialect.CurrentVersion},", lines[0], StringComparison.Ordinal);
        lines[0] = HeaderAt(lines[0], schema);
        RowsAt(lines, schema);
        Reseal(data, lines);
        await File.WriteAllTextAsync(file, string.Join('\n', lines));

        await DestroyAsync(data);
        var restored = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--json")).Succeeded().Json();
        Assert.Equal(folder.Records, (long)restored["auditRecords"]!);
        Assert.Equal(0L, (await AuditedDataFolder.QueryAsync(data, "SELECT COUNT(*) FROM tpm_crls", r => r.GetInt64(0))).Single());
        Assert.Equal(0L, (await AuditedDataFolder.QueryAsync(data, "SELECT COUNT(*) FROM hosts WHERE ek_certificate IS NOT NULL OR ek_chain IS NOT NULL", r => r.GetInt64(0))).Single());
        await HostUnlocksAndAuditVerifiesAsync(folder, data, folder.Records + 1);
    }

    [Fact]
    public async Task A_backup_holding_a_tpm_crl_restores_it_and_its_row_and_record_still_verify()
    {
        string data = folder.Copy();
        using var chain = new TestEkChain();
        List<TpmCrlInfo> crls;
        await using (var server = await ServerProcess.StartAsync(data))
        {
            using var admin = new TpmAdminClient([server.Url], folder.AdminToken);
            await admin.AddRootAsync(chain.Root.ExportCertificatePem(), CancellationToken.None);
            await admin.AddRootAsync(chain.Intermediate.ExportCertificatePem(), CancellationToken.None);
            await admin.AddCrlAsync(TestCrl.Pem(chain.IntermediateCrl(7, [TestEkChain.EkSerial])), CancellationToken.None);
            crls = await admin.ListCrlsAsync(CancellationToken.None);
            Assert.Equal(0, await server.StopAsync());
        }

        string file = await BackupAsync(data);
        Assert.Contains("{\"t\":\"tpm_crls\",", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        await DestroyAsync(data);
        (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file)).Succeeded();

        await using var restored = await ServerProcess.StartAsync(data);
        using var client = new TpmAdminClient([restored.Url], folder.AdminToken);
        Assert.Equal(crls, await client.ListCrlsAsync(CancellationToken.None));
        (await HgsCli.RunAsync(["audit", "rows"], new Dictionary<string, string?> { ["HGS_URL"] = restored.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken })).Succeeded();
    }

    /// <summary>The header line as a release at <paramref name="schema"/> wrote it: its schema version, and only the tables it had.</summary>
    private static string HeaderAt(string header, int schema)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(header)!.AsObject();
        json["schemaVersion"] = schema;
        var tables = json["tables"]!.AsArray();
        foreach (var table in tables.Where(t => BackupCatalog.Tables.Single(c => c.Name == (string?)t!["name"]).Since > schema).ToList())
        {
            tables.Remove(table);
        }

        foreach (var table in tables)
        {
            var columns = table!["columns"]!.AsArray();
            var known = BackupCatalog.Tables.Single(c => c.Name == (string?)table["name"]);
            foreach (var column in columns.Where(c => known.Columns.Single(k => k.Name == (string?)c).Since > schema).ToList())
            {
                columns.Remove(column);
            }
        }

        return json.ToJsonString();
    }

    /// <summary>The row lines as a release at <paramref name="schema"/> wrote them: without the values of columns added since (this fixture's are all null).</summary>
    private static void RowsAt(List<string> lines, int schema)
    {
        for (int i = 1; i < lines.Count; i++)
        {
            if (!lines[i].StartsWith("{\"t\":", StringComparison.Ordinal))
            {
                continue;
            }

            var row = System.Text.Json.Nodes.JsonNode.Parse(lines[i])!.AsObject();
            var table = BackupCatalog.Tables.Single(t => t.Name == (string?)row["t"]);
            var values = row["r"]!.AsArray();
            for (int c = table.Columns.Count - 1; c >= 0; c--)
            {
                if (table.Columns[c].Since > schema)
                {
                    Assert.Null(values[c]);
                    values.RemoveAt(c);
                }
            }

            lines[i] = row.ToJsonString();
        }
    }

    [Fact]
    [Trait("Attack", "A78")]
    public async Task A_restore_into_a_database_holding_a_fabric_is_refused_unless_replace_existing()
    {
        string data = folder.Copy();
        string file = await BackupAsync(data);
        string before = await FingerprintAsync(data);

        string error = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file)).FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: {BackupCodes.TargetNotEmpty}: ", error, StringComparison.Ordinal);
        Assert.Equal(before, await FingerprintAsync(data));

        var replaced = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--replace-existing", "--json")).Succeeded().Json();
        Assert.True((bool)replaced["replaced"]!);
        Assert.Equal(folder.Records + 1, (long)replaced["replacedAuditRecords"]!); // the copy held the backup's own record too
        await HostUnlocksAndAuditVerifiesAsync(folder, data, folder.Records + 1);
    }

    public static TheoryData<string, string> Tampering => new()
    {
        { "one byte in a row", BackupCodes.SealInvalid },
        { "a dropped line", BackupCodes.SealInvalid },
        { "an added line", BackupCodes.SealInvalid },
        { "truncated mid-file", BackupCodes.Truncated },
        { "the trailer dropped", BackupCodes.Truncated },
        { "a row edited and resealed with the key store", BackupCodes.RowIntegrity },
        { "an audit record edited and resealed with the key store", BackupCodes.AuditChain },
        { "another schema version", BackupCodes.VersionUnsupported },
        { "a tpm_crls row in a schema-8 backup", BackupCodes.Malformed },
        { "not a backup", BackupCodes.Malformed },
    };

    [Theory]
    [Trait("Attack", "A78")]
    [MemberData(nameof(Tampering))]
    public async Task A_tampered_backup_is_refused_with_its_code_and_the_target_is_unchanged(string tampering, string code)
    {
        string data = folder.Copy();
        string file = await BackupAsync(data);
        await TamperAsync(data, file, tampering);
        string before = await FingerprintAsync(data);

        var result = await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--replace-existing");
        string error = result.FailedWithOneErrorLine(code == BackupCodes.Malformed ? 2 : 1);
        Assert.StartsWith($"error: {code}: ", error, StringComparison.Ordinal);
        Assert.Equal(before, await FingerprintAsync(data));
    }

    [Fact]
    public async Task A_tampered_backup_is_refused_before_an_empty_target_gets_anything()
    {
        string data = folder.Copy();
        string file = await BackupAsync(data);
        await TamperAsync(data, file, "one byte in a row");
        await DestroyAsync(data);

        string error = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file)).FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: {BackupCodes.SealInvalid}: ", error, StringComparison.Ordinal);
        Assert.False(await HasTablesAsync(data), "the destroyed database got no schema, let alone rows");
    }

    [Fact]
    [Trait("Attack", "A78")]
    public async Task A_backup_of_another_fabrics_key_store_is_refused()
    {
        string data = folder.Copy();
        string before = await FingerprintAsync(data);
        string other = Path.Combine(data, "..", $"other-{Guid.NewGuid():N}");
        (await HgsCli.RunAsync("server", "init", "--data", other, "--software", "--name", "Another fabric")).Succeeded();
        string file = await BackupAsync(other);

        string error = (await HgsCli.RunAsync("server", "restore", "--data", data, "--in", file, "--replace-existing")).FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: {BackupCodes.KeyMismatch}: The backup was made with another key store", error, StringComparison.Ordinal);
        Assert.Equal(before, await FingerprintAsync(data));
    }

    [Theory]
    [InlineData("UPDATE hosts SET mode = 'tpm'", BackupCodes.RowIntegrity)]
    [InlineData("UPDATE audit_log SET details = '{}' WHERE seq = 3", BackupCodes.AuditChain)]
    public async Task A_backup_of_a_database_that_does_not_verify_is_refused_and_audited(string tampering, string code)
    {
        string data = folder.Copy();
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data, tampering));
        string file = Path.Combine(data, "..", $"refused-{Guid.NewGuid():N}.jsonl");

        string error = (await HgsCli.RunAsync("server", "backup", "--data", data, "--out", file)).FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: {code}: ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(Path.GetFullPath(file))!, "*.partial"));
        var newest = (await AuditedDataFolder.QueryAsync(data, "SELECT event, outcome, reason FROM audit_log ORDER BY seq DESC LIMIT 1",
            r => (r.GetString(0), r.GetString(1), r.GetString(2)))).Single();
        Assert.Equal(("admin.server.backup", "refused", code), newest);
    }

    [Fact]
    public async Task A_backup_never_overwrites_a_file()
    {
        string data = folder.Copy();
        string file = await BackupAsync(data);
        byte[] first = await File.ReadAllBytesAsync(file);
        string error = (await HgsCli.RunAsync("server", "backup", "--data", data, "--out", file)).FailedWithOneErrorLine(2);
        Assert.Contains("a backup never overwrites a file", error, StringComparison.Ordinal);
        Assert.Equal(first, await File.ReadAllBytesAsync(file));
    }

    /// <summary><c>hgs server backup</c> of <paramref name="data"/> into a new file beside it.</summary>
    internal static async Task<string> BackupAsync(string data)
    {
        string file = Path.GetFullPath(Path.Combine(data, "..", $"backup-{Guid.NewGuid():N}.jsonl"));
        (await HgsCli.RunAsync("server", "backup", "--data", data, "--out", file)).Succeeded();
        return file;
    }

    /// <summary>
    /// A server on the restored <paramref name="data"/>: the fixture's host (its keys and key protector) configures, attests
    /// and unlocks; the newest audit record is the restore's, number <paramref name="records"/>, and the trail verifies.
    /// </summary>
    internal static async Task HostUnlocksAndAuditVerifiesAsync(AuditedDataFolder folder, string data, long records)
    {
        await using var server = await ServerProcess.StartAsync(data);
        var admin = new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        var before = (await HgsCli.RunAsync(["audit", "list", "--limit", "1", "--json"], admin)).Succeeded().Json().AsArray();
        Assert.Equal("admin.server.restore", (string?)before[0]!["event"]);
        Assert.Equal(records, (long)before[0]!["sequence"]!);

        string state = Path.Combine(data, "..", $"state-{Guid.NewGuid():N}");
        string unlocked = Path.Combine(data, "..", $"vm-{Guid.NewGuid():N}.tk");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", server.Url, "--key-protection-url", server.Url, "--host-key", folder.PathOf("keys"))).Succeeded();
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", folder.PathOf("vm.kp"), "--out", unlocked)).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(folder.PathOf("vm.tk")), await File.ReadAllBytesAsync(unlocked));

        var verified = (await HgsCli.RunAsync(["audit", "verify", "--json"], admin)).Succeeded().Json();
        Assert.True((bool)verified["valid"]!);
        Assert.True((long)verified["records"]! > records);
        Assert.Equal(0, await server.StopAsync());
    }

    private static bool IsPostgres(string data) => HgsConfiguration.Load(data).Database.StartsWith("postgres:", StringComparison.Ordinal);

    /// <summary>Loses the database: the SQLite file is deleted, the PostgreSQL schema dropped.</summary>
    private static async Task DestroyAsync(string data)
    {
        if (IsPostgres(data))
        {
            await AuditedDataFolder.ExecuteAsync(data, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
            return;
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (string file in Directory.EnumerateFiles(data, "hgs.db*"))
        {
            File.Delete(file);
        }
    }

    private static async Task<bool> HasTablesAsync(string data) =>
        IsPostgres(data)
            ? (await AuditedDataFolder.QueryAsync(data, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", r => r.GetInt64(0))).Single() > 0
            : File.Exists(Path.Combine(data, "hgs.db"))
              && (await AuditedDataFolder.QueryAsync(data, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", r => r.GetInt64(0))).Single() > 0;

    /// <summary>Every backed-up table's rows, hashed in catalog order: any change to the target shows.</summary>
    private static async Task<string> FingerprintAsync(string data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var table in BackupCatalog.Tables)
        {
            var rows = await AuditedDataFolder.QueryAsync(data, $"SELECT {table.ColumnList} FROM {table.Name} ORDER BY {table.OrderBy}", r =>
                string.Join("|", Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "null" : r.GetValue(i) is byte[] b ? Convert.ToHexString(b) : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            hash.AppendData(Encoding.UTF8.GetBytes($"{table.Name}:{rows.Count}\n{string.Join("\n", rows)}\n"));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static async Task TamperAsync(string data, string file, string tampering)
    {
        var lines = (await File.ReadAllTextAsync(file)).Split('\n').ToList(); // the last element is the empty one after the final '\n'
        int host = lines.FindIndex(l => l.StartsWith("{\"t\":\"hosts\"", StringComparison.Ordinal));
        int record = lines.FindIndex(l => l.StartsWith("{\"t\":\"audit_log\",\"r\":[3,", StringComparison.Ordinal));
        Assert.True(host > 0 && record > 0);
        switch (tampering)
        {
            case "one byte in a row":
                lines[host] = lines[host].Replace("\"host-key\"", "\"host-kez\"", StringComparison.Ordinal);
                break;
            case "a dropped line":
                lines.RemoveAt(record);
                break;
            case "an added line":
                lines.Insert(record, lines[record]);
                break;
            case "truncated mid-file":
                byte[] bytes = await File.ReadAllBytesAsync(file);
                await File.WriteAllBytesAsync(file, bytes[..(bytes.Length / 2)]);
                return;
            case "the trailer dropped":
                lines.RemoveAt(lines.Count - 2);
                break;
            case "a row edited and resealed with the key store":
                lines[host] = lines[host].Replace("\"host-key\"", "\"tpm\"", StringComparison.Ordinal);
                Reseal(data, lines);
                break;
            case "an audit record edited and resealed with the key store":
                lines[record] = lines[record].Replace("\"success\"", "\"refused\"", StringComparison.Ordinal);
                Reseal(data, lines);
                break;
            case "another schema version":
                lines[0] = lines[0].Replace("\"schemaVersion\":", "\"schemaVersion\":9", StringComparison.Ordinal);
                break;
            case "a tpm_crls row in a schema-8 backup":
                // A schema-8 backup has no tpm_crls; a row of it (in its place between the tables) is refused, not restored.
                lines[0] = HeaderAt(lines[0], SqlDialect.AdminRecordSealVersion);
                lines.Insert(lines.FindIndex(l => l.StartsWith("{\"t\":\"tpm_attestation_keys\"", StringComparison.Ordinal) || l.StartsWith("{\"t\":\"baselines\"", StringComparison.Ordinal)
                    || l.StartsWith("{\"t\":\"policies\"", StringComparison.Ordinal) || l.StartsWith("{\"t\":\"audit_", StringComparison.Ordinal)),
                    "{\"t\":\"tpm_crls\",\"r\":[\"ab\",\"CN=x\",\"01\",0,0,\"AA==\",0,null]}");
                Reseal(data, lines);
                break;
            case "not a backup":
                lines = ["{\"kind\":\"something-else\"}", string.Empty];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(tampering), tampering, null);
        }

        await File.WriteAllTextAsync(file, string.Join('\n', lines));
    }

    /// <summary>What only the key store's holder can do: seal the edited lines again (so the row MACs and the chain must catch the edit).</summary>
    private static void Reseal(string data, List<string> lines)
    {
        var configuration = HgsConfiguration.Load(data);
        using var store = HgsRuntime.OpenKeyStore(configuration, data, production: false, NullLoggerFactory.Instance, TimeProvider.System);
        var body = lines.Take(lines.Count - 2).ToList();
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(body.Select(l => l + "\n"))));
        byte[] seal = BackupFormat.Seal(new KeyStoreRowAuthenticator(store), digest, body.Count - 1);
        lines[^2] = $"{{\"trailer\":{{\"rows\":{body.Count - 1},\"digest\":\"{Convert.ToHexStringLower(digest)}\",\"seal\":\"{Convert.ToHexStringLower(seal)}\"}}}}";
    }
}
