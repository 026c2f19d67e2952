using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// A data folder with some history: made by <c>hgs server init</c>, then a server process registered a host,
/// attested it and released a key, all through the CLI; the server was then stopped. Tests copy the folder (and its
/// database), tamper with the copy's database while no server runs, and start a server on the copy. This one keeps
/// its database in the folder (SQLite, the embedded default).
/// </summary>
public class AuditedDataFolder : IAsyncLifetime
{
    private readonly TempFolder _root = new("openhgs-cli-audit-");

    public string DataDirectory => _root["service"];

    public string AdminToken { get; private set; } = null!;

    /// <summary>How many audit records the folder holds.</summary>
    public long Records { get; private set; }

    public async Task InitializeAsync()
    {
        (await HgsCli.RunAsync(["server", "init", "--data", DataDirectory, "--software", .. DatabaseArguments()], environment: null)).Succeeded();
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "admin.token"))).Trim();
        await using (var server = await ServerProcess.StartAsync(DataDirectory))
        {
            var environment = new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = AdminToken };
            string P(string name) => _root[name];
            string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("keys"))).Succeeded().StdOut.Trim();
            (await HgsCli.RunAsync(["hosts", "add-key", "--name", "audited-host", "--public-key", publicKey], environment)).Succeeded();
            (await HgsCli.RunAsync(["guardian", "export", "--out", P("fabric.json")], environment)).Succeeded();
            (await HgsCli.RunAsync("guardian", "new", "--name", "audited-owner", "--out", P("owner.json"))).Succeeded();
            (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"))).Succeeded();
            (await HgsCli.RunAsync("client", "configure", "--state", P("state"), "--attestation-url", server.Url, "--key-protection-url", server.Url, "--host-key", P("keys"))).Succeeded();
            (await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("vm.kp"), "--out", P("vm.tk"))).Succeeded();
            var verified = (await HgsCli.RunAsync(["audit", "verify", "--json"], environment)).Succeeded().Json();
            Assert.True((bool)verified["valid"]!);
            Records = (long)verified["records"]!;
            Assert.Equal(0, await server.StopAsync());
        }

        // init (1) + three keys + host added + attestation + release.
        Assert.True(Records >= 7, $"only {Records} audit records");
    }

    /// <summary>A file or folder of the history's client side (<c>keys</c>: the host keys, <c>vm.kp</c>: the key protector, <c>owner.json</c>).</summary>
    public string PathOf(string name) => _root[name];

    /// <summary>Extra <c>server init</c> arguments choosing the database (none: the embedded SQLite default).</summary>
    protected virtual string[] DatabaseArguments() => [];

    /// <summary>
    /// A copy of the data folder (the key store and configuration, and the database: a SQLite file is in the folder,
    /// a PostgreSQL database is cloned and the copy's configuration names the clone) to tamper with.
    /// </summary>
    public string Copy()
    {
        string copy = _root[$"copy-{Guid.NewGuid():N}"];
        foreach (string file in Directory.EnumerateFiles(DataDirectory, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(copy, Path.GetRelativePath(DataDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        var configuration = HgsConfiguration.Load(copy);
        if (PostgresConnectionString(configuration) is { } original)
        {
            var source = new NpgsqlConnectionStringBuilder(original);
            var clone = new NpgsqlConnectionStringBuilder(original) { Database = $"audit_copy_{Guid.NewGuid():N}" };
            using var admin = new NpgsqlConnection(PostgresServer.Instance.AdminConnectionString);
            admin.Open();
            using var command = admin.CreateCommand();
            command.CommandText = $"CREATE DATABASE \"{clone.Database}\" TEMPLATE \"{source.Database}\"";
            command.ExecuteNonQuery();
            (configuration with { Database = "postgres:" + clone.ConnectionString }).Save(copy);
        }

        return copy;
    }

    /// <summary>Runs one SQL statement against the database of the data folder <paramref name="data"/>, as its configuration names it.</summary>
    public static async Task<int> ExecuteAsync(string data, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = await OpenAsync(data);
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Runs one query against the data folder's database and maps every row.</summary>
    public static async Task<List<T>> QueryAsync<T>(string data, string sql, Func<DbDataReader, T> map, params (string Name, object Value)[] parameters)
    {
        await using var connection = await OpenAsync(data);
        await using var command = Command(connection, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    /// <summary>Appends <paramref name="record"/> to the data folder's audit trail with SQL, well formed, as anyone who can write the database can. Returns its sequence.</summary>
    public static async Task<long> AppendOutsideAsync(string data, AuditEvent record)
    {
        await using var connection = await OpenAsync(data);
        return await OutsideAuditWrites.AppendAsync(connection, record);
    }

    /// <summary>Drops the trigger that refuses unsealed admin records after the marker (design change 67), as a database writer forging records would.</summary>
    public static async Task DropSealGuardAsync(string data)
    {
        await using var connection = await OpenAsync(data);
        await OutsideAuditWrites.DropSealGuardAsync(connection);
    }

    private static async Task<DbConnection> OpenAsync(string data)
    {
        var configuration = HgsConfiguration.Load(data);
        DbConnection connection = PostgresConnectionString(configuration) is { } postgres
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(postgres) { Pooling = false }.ToString())
            : new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(configuration.Database["sqlite:".Length..], data), Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    private static DbCommand Command(DbConnection connection, string sql, (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private static string? PostgresConnectionString(HgsConfiguration configuration) =>
        configuration.Database.StartsWith("postgres:", StringComparison.Ordinal) ? configuration.Database["postgres:".Length..]
        : configuration.Database.StartsWith("sqlite:", StringComparison.Ordinal) ? null
        : throw new InvalidOperationException($"unknown database '{configuration.Database}'");

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The same history with the audit trail in PostgreSQL (<c>server init --database Host=…</c>).</summary>
public sealed class AuditedPostgresDataFolder : AuditedDataFolder
{
    protected override string[] DatabaseArguments() => ["--database", PostgresServer.Instance.CreateDatabase("audit")];
}

/// <summary>
/// Acceptance: editing or deleting any audit record is detected by <c>hgs audit verify</c>, which exits 1 naming the first
/// broken record; so are truncation and rewriting that recompute the chain and the head, through the signed checkpoints.
/// </summary>
public sealed class AuditTamperCliTestsOnSqlite(AuditedDataFolder folder) : AuditTamperCliTests(folder), IClassFixture<AuditedDataFolder>;

/// <summary>The same, with the audit trail in PostgreSQL: the rows are tampered with through Npgsql.</summary>
public sealed class AuditTamperCliTestsOnPostgres(AuditedPostgresDataFolder folder) : AuditTamperCliTests(folder), IClassFixture<AuditedPostgresDataFolder>;

public abstract class AuditTamperCliTests(AuditedDataFolder folder)
{
    [Fact]
    public async Task An_untouched_copy_still_verifies_after_a_restart()
    {
        string data = folder.Copy();
        var result = await VerifyAsync(data, "--json");
        var report = result.Succeeded().Json();
        Assert.True((bool)report["valid"]!);
        Assert.Equal(folder.Records, (long)report["records"]!);
        Assert.Equal(string.Empty, result.StdErr);
    }

    [Fact]
    public async Task Editing_record_3_is_detected_naming_record_3()
    {
        string data = folder.Copy();
        Assert.Equal(1, await ExecuteAsync(data, "UPDATE audit_log SET details = '{}' WHERE seq = 3"));

        var result = await VerifyAsync(data, "--json");
        string error = result.FailedWithOneErrorLine(1);
        Assert.StartsWith("error: audit chain broken at record 3: record 3 was altered", error, StringComparison.Ordinal);
        var report = result.Json();
        Assert.False((bool)report["valid"]!);
        Assert.Equal(3, (long)report["firstBrokenSequence"]!);
    }

    [Fact]
    public async Task Deleting_the_newest_record_is_detected()
    {
        string data = folder.Copy();
        long newest = folder.Records;
        Assert.Equal(1, await ExecuteAsync(data, $"DELETE FROM audit_log WHERE seq = {newest}"));

        string error = (await VerifyAsync(data)).FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: audit chain broken at record {newest}:", error, StringComparison.Ordinal);
        Assert.Contains("newest records were deleted", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_record_2_is_detected_naming_record_2()
    {
        string data = folder.Copy();
        Assert.Equal(1, await ExecuteAsync(data, "DELETE FROM audit_log WHERE seq = 2"));

        string error = (await VerifyAsync(data)).FailedWithOneErrorLine(1);
        Assert.StartsWith("error: audit chain broken at record 2: record 2 is missing", error, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A54")]
    public async Task Deleting_the_newest_records_and_rewriting_the_head_is_named_as_truncation_by_the_signed_checkpoint()
    {
        string data = folder.Copy();
        long checkpoint = (await AuditedDataFolder.QueryAsync(data, "SELECT MIN(seq) FROM audit_checkpoints WHERE seq > 5", r => r.GetInt64(0))).Single();
        Assert.Equal(folder.Records - 5, await ExecuteAsync(data, "DELETE FROM audit_log WHERE seq > 5"));
        Assert.Equal(1, await ExecuteAsync(data, "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1"));

        var result = await VerifyAsync(data, "--json");
        string error = result.FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: audit verification failed (Truncated) at record {checkpoint}: checkpoint {checkpoint} ", error, StringComparison.Ordinal);
        Assert.Contains("the chain ends at record 5", error, StringComparison.Ordinal);
        var report = result.Json();
        Assert.False((bool)report["valid"]!);
        Assert.Equal("Truncated", (string?)report["reason"]);
        Assert.Equal(5, (long)report["records"]!);
        Assert.Equal(checkpoint, (long)report["firstBrokenSequence"]!);
        Assert.Contains(report["findings"]!.AsArray(), f => (string?)f!["code"] == "Truncated" && (string?)f["source"] == "database" && (long)f["sequence"]! == checkpoint);
    }

    [Fact]
    [Trait("Attack", "A55")]
    public async Task Rewriting_a_record_and_recomputing_the_chain_is_named_as_a_rewrite_by_the_signed_checkpoint()
    {
        string data = folder.Copy();
        long firstSigned = (await AuditedDataFolder.QueryAsync(data, "SELECT MIN(seq) FROM audit_checkpoints WHERE seq >= 3", r => r.GetInt64(0))).Single();
        await RewriteAsync(data, 3);

        var result = await VerifyAsync(data, "--json");
        string error = result.FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: audit verification failed (Rewritten) at record {firstSigned}: record {firstSigned}'s hash differs from the one checkpoint {firstSigned} ", error, StringComparison.Ordinal);
        var report = result.Json();
        Assert.Equal("Rewritten", (string?)report["reason"]);
        Assert.Equal(folder.Records, (long)report["records"]!); // the recomputed chain is whole: only the signature shows the rewrite
        Assert.Null(report["checkpoint"]);
    }

    [Fact]
    [Trait("Attack", "A57")]
    public async Task An_exported_checkpoint_proves_records_were_removed_after_the_checkpoint_rows_were_deleted_too()
    {
        string data = folder.Copy();
        string file = Path.Combine(data, "..", $"checkpoint-{Guid.NewGuid():N}.json");
        await using (var server = await ServerProcess.StartAsync(data))
        {
            string exported = (await HgsCli.RunAsync(["audit", "checkpoint", "export", "--out", file], Admin(server))).Succeeded().StdOut;
            Assert.Contains($"Audit checkpoint of record {folder.Records} ", exported, StringComparison.Ordinal);
            Assert.Equal(0, await server.StopAsync());
        }

        await ExecuteAsync(data, "DELETE FROM audit_log WHERE seq > 5");
        await ExecuteAsync(data, "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1");
        await ExecuteAsync(data, "DELETE FROM audit_checkpoints");

        await using var restarted = await ServerProcess.StartAsync(data);
        var plain = (await HgsCli.RunAsync(["audit", "verify", "--json"], Admin(restarted))).Succeeded().Json();
        Assert.True((bool)plain["valid"]!, "without the kept checkpoint nothing shows the loss (the database held every trace of it)");

        var result = await HgsCli.RunAsync(["audit", "verify", "--checkpoint", file, "--json"], Admin(restarted));
        string error = result.FailedWithOneErrorLine(1);
        Assert.StartsWith($"error: audit verification failed (Truncated) at record {folder.Records}: checkpoint {folder.Records} (from the checkpoint file", error, StringComparison.Ordinal);
        var report = result.Json();
        Assert.Equal("Truncated", (string?)report["reason"]);
        Assert.Contains(report["findings"]!.AsArray(), f => (string?)f!["code"] == "CheckpointDeleted" && (string?)f["source"] == "file");
    }

    [Fact]
    [Trait("Attack", "A56")]
    public async Task A_forged_checkpoint_row_is_named_as_a_bad_signature()
    {
        string data = folder.Copy();
        byte[] hash = (await AuditedDataFolder.QueryAsync(data, "SELECT hash FROM audit_log WHERE seq = 3", r => (byte[])r.GetValue(0))).Single();
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] keyId = AuditCheckpointFormat.KeyId(forger.ExportSubjectPublicKeyInfo());
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        byte[] signature = forger.SignHash(AuditCheckpointFormat.Digest(keyId, 3, hash, at), DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        Assert.Equal(1, await ExecuteAsync(data, "INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, signature) VALUES (3, @h, @t, @k, @s)",
            ("@h", hash), ("@t", at.ToUnixTimeMilliseconds()), ("@k", keyId), ("@s", signature)));

        var result = await VerifyAsync(data, "--json");
        Assert.StartsWith("error: audit verification failed (CheckpointBadSignature) at record 3: checkpoint 3 ", result.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        var report = result.Json();
        Assert.Equal("CheckpointBadSignature", (string?)report["reason"]);
        Assert.Single(report["findings"]!.AsArray());
        Assert.Equal(folder.Records, (long)report["checkpoint"]!["sequence"]!);
    }

    [Fact]
    public async Task A_clean_trail_is_valid_and_names_its_newest_checkpoint_and_unsigned_tail()
    {
        string data = folder.Copy();
        await using var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--audit-checkpoint-seconds", "3600"] });
        (await HgsCli.RunAsync(["server", "set-mode", "host-key"], Admin(server))).Succeeded();

        var report = (await HgsCli.RunAsync(["audit", "verify", "--json"], Admin(server))).Succeeded().Json();
        Assert.True((bool)report["valid"]!);
        Assert.Null(report["reason"]);
        Assert.Equal(folder.Records + 1, (long)report["records"]!);
        Assert.Equal(folder.Records, (long)report["checkpoint"]!["sequence"]!);
        Assert.Equal(1, (long)report["unsignedTail"]!["records"]!);
        Assert.False((bool)report["unsignedTail"]!["stale"]!);
        Assert.Empty(report["findings"]!.AsArray());

        var text = (await HgsCli.RunAsync(["audit", "verify"], Admin(server))).Succeeded();
        Assert.Contains($"Newest signed checkpoint: record {folder.Records}, signed at ", text.StdOut, StringComparison.Ordinal);
        Assert.Contains("Warning (not a failure): 1 records after the newest checkpoint are not signed yet", text.StdOut, StringComparison.Ordinal);
        Assert.Equal(string.Empty, text.StdErr);
    }

    [Fact]
    public async Task A_checkpoint_file_that_is_not_one_is_bad_input()
    {
        string data = folder.Copy();
        string file = Path.Combine(data, "not-a-checkpoint.json");
        await File.WriteAllTextAsync(file, "{\"kind\":\"something-else\"}");
        await using var server = await ServerProcess.StartAsync(data);
        string error = (await HgsCli.RunAsync(["audit", "verify", "--checkpoint", file], Admin(server))).FailedWithOneErrorLine(2);
        Assert.StartsWith($"error: checkpoint file '{file}' is not an audit checkpoint export", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_folder_from_before_checkpoints_gets_its_key_on_first_start_and_a_checkpoint_of_the_whole_chain()
    {
        string data = folder.Copy();
        File.Delete(Path.Combine(data, "keystore", $"{AuditCheckpointKey.Label}.key.json"));
        await ExecuteAsync(data, "DELETE FROM audit_checkpoints");

        await using var server = await ServerProcess.StartAsync(data);
        var report = (await HgsCli.RunAsync(["audit", "verify", "--json"], Admin(server))).Succeeded().Json();
        Assert.Contains($"Created the audit checkpoint key '{AuditCheckpointKey.Label}'", server.Output, StringComparison.Ordinal);
        Assert.True((bool)report["valid"]!);
        Assert.Equal(folder.Records, (long)report["checkpoint"]!["sequence"]!);
        Assert.Equal(0, (long)report["unsignedTail"]!["records"]!);
    }

    [Fact]
    public async Task A_node_without_the_checkpoint_key_of_a_database_that_has_checkpoints_does_not_start()
    {
        string data = folder.Copy();
        File.Delete(Path.Combine(data, "keystore", $"{AuditCheckpointKey.Label}.key.json"));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(async () => await (await ServerProcess.StartAsync(data)).DisposeAsync());
        Assert.Contains("has no audit checkpoint key", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>Starts a server on <paramref name="data"/>, runs <c>hgs audit verify</c> against it, stops it.</summary>
    private async Task<CliResult> VerifyAsync(string data, params string[] options)
    {
        await using var server = await ServerProcess.StartAsync(data);
        return await HgsCli.RunAsync(["audit", "verify", .. options], Admin(server));
    }

    private Dictionary<string, string?> Admin(ServerProcess server) => new() { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken };

    /// <summary>What an attacker with write access can do: edit record <paramref name="sequence"/>, recompute every later hash and the head.</summary>
    private static async Task RewriteAsync(string data, long sequence)
    {
        var rows = await AuditedDataFolder.QueryAsync(data, $"SELECT seq, ts, event, outcome, subject, reason, details, prev_hash FROM audit_log WHERE seq >= {sequence} ORDER BY seq", r => (
            Sequence: r.GetInt64(0), Timestamp: DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
            Event: new AuditEvent(r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6)), Previous: (byte[])r.GetValue(7)));
        byte[] previous = rows[0].Previous;
        foreach (var row in rows)
        {
            var e = row.Sequence == sequence ? row.Event with { Subject = "someone-else" } : row.Event;
            byte[] hash = AuditChain.ComputeHash(row.Sequence, row.Timestamp, e, previous);
            Assert.Equal(1, await ExecuteAsync(data, "UPDATE audit_log SET subject = @sub, prev_hash = @p, hash = @h WHERE seq = @s", ("@sub", e.Subject), ("@p", previous), ("@h", hash), ("@s", row.Sequence)));
            previous = hash;
        }

        Assert.Equal(1, await ExecuteAsync(data, "UPDATE audit_head SET hash = @h WHERE id = 1", ("@h", previous)));
    }

    private static Task<int> ExecuteAsync(string data, string sql, params (string Name, object Value)[] parameters) => AuditedDataFolder.ExecuteAsync(data, sql, parameters);
}
