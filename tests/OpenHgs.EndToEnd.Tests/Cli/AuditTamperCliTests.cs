using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
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
        var configuration = HgsConfiguration.Load(data);
        await using DbConnection connection = PostgresConnectionString(configuration) is { } postgres
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(postgres) { Pooling = false }.ToString())
            : new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(configuration.Database["sqlite:".Length..], data), Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return await command.ExecuteNonQueryAsync();
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

/// <summary>Acceptance: editing or deleting any audit record is detected by <c>hgs audit verify</c>, which exits 1 naming the first broken record.</summary>
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

    /// <summary>Starts a server on <paramref name="data"/>, runs <c>hgs audit verify</c> against it, stops it.</summary>
    private async Task<CliResult> VerifyAsync(string data, params string[] options)
    {
        await using var server = await ServerProcess.StartAsync(data);
        var environment = new Dictionary<string, string?> { ["HGS_URL"] = server.Url, ["HGS_ADMIN_TOKEN"] = folder.AdminToken };
        return await HgsCli.RunAsync(["audit", "verify", .. options], environment);
    }

    private static Task<int> ExecuteAsync(string data, string sql) => AuditedDataFolder.ExecuteAsync(data, sql);
}
