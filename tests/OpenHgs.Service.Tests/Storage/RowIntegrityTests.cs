using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Storage;

/// <summary>Row MACs on a real SQLite file.</summary>
public sealed class SqliteRowIntegrityTests : RowIntegrityTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-rows-").FullName;

    protected override AdoDatabase Create(string name) => new SqliteDatabase(Path.Combine(_directory, name + ".db"), TimeProvider.System, Rows.Authenticator);

    protected override DbConnection OpenRaw(string name)
    {
        var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, name + ".db")}");
        connection.Open();
        return connection;
    }

    protected override void Cleanup()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>Row MACs on a real PostgreSQL server.</summary>
public sealed class PostgresRowIntegrityTests : RowIntegrityTests
{
    private readonly Dictionary<string, string> _databases = [];

    protected override AdoDatabase Create(string name) => new PostgresDatabase(ConnectionString(name), TimeProvider.System, Rows.Authenticator);

    protected override DbConnection OpenRaw(string name)
    {
        var connection = new NpgsqlConnection(ConnectionString(name));
        connection.Open();
        return connection;
    }

    protected override void Cleanup() => NpgsqlConnection.ClearAllPools();

    private string ConnectionString(string name)
    {
        if (!_databases.TryGetValue(name, out string? connectionString))
        {
            connectionString = PostgresServer.Instance.CreateDatabase("rows_" + name);
            _databases[name] = connectionString;
        }

        return connectionString;
    }
}

/// <summary>
/// Whoever can write the database but not use the key store cannot make the service use a row: every security-relevant
/// row carries a MAC over its table, primary key and columns, and edited, inserted, moved or MAC-less rows are refused.
/// </summary>
public abstract class RowIntegrityTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);
    private AdoDatabase _database = null!;

    protected SoftwareRowKey Rows { get; } = new();

    protected abstract AdoDatabase Create(string name);

    protected abstract DbConnection OpenRaw(string name);

    protected abstract void Cleanup();

    public async Task InitializeAsync()
    {
        _database = Create("main");
        await _database.MigrateAsync(CancellationToken.None);
        await _database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync("mode", "host-key");
            await s.Settings.SetAsync("deny-before", "1780000000000");
            await s.FabricKeys.AddAsync(new FabricKeyRecord("att-1", "attestation-signer", "openhgs-att-1", "EcP256", [1, 2, 3], true, true, Now));
            await s.FabricKeys.AddAsync(new FabricKeyRecord("att-2", "attestation-signer", "openhgs-att-2", "EcP256", [4, 5, 6], false, true, Now));
            await s.Hosts.AddAsync(new HostRecord("host-a", "host-key", [7, 7, 7], "thumb-a", Now));
            await s.Tpm.AddRootAsync(new TpmRootRecord("root-1", "CN=Root", [8, 8], Now));
            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord("host-a", [9, 9], Now));
            await s.Policies.SetStateAsync("secure-boot", "enabled");
            await s.Policies.AddBaselineAsync(new BaselineRecord("class-1", [10, 10], Now));
            return 0;
        }, CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _database.Dispose();
        Cleanup();
        Rows.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Rows_the_service_wrote_verify_and_read_back()
    {
        await _database.ReadAsync(async s =>
        {
            Assert.Equal("1780000000000", await s.Settings.GetAsync("deny-before"));
            var keys = await s.FabricKeys.ListAsync();
            Assert.Equal(["att-1", "att-2"], keys.Rows.Select(k => k.Id).Order().ToArray());
            Assert.Empty(keys.Rejected);
            Assert.Equal("host-a", (await s.Hosts.FindByThumbprintAsync("thumb-a"))!.Name);
            Assert.Single((await s.Tpm.ListRootsAsync()).Rows);
            Assert.NotNull(await s.Tpm.FindAttestationKeyAsync("host-a"));
            Assert.Equal("enabled", (await s.Policies.GetStatesAsync())["secure-boot"]);
            Assert.Single(await s.Policies.ListBaselinesAsync());
            return 0;
        }, CancellationToken.None);

        // Changes the service makes re-MAC the rows they touch.
        await _database.InTransactionAsync(async s =>
        {
            await s.FabricKeys.SetPrimaryAsync("att-2", "attestation-signer");
            await s.FabricKeys.SetEnabledAsync("att-1", false);
            return 0;
        }, CancellationToken.None);
        var after = await _database.ReadAsync(s => s.FabricKeys.ListAsync(), CancellationToken.None);
        Assert.Empty(after.Rejected);
        Assert.True(after.Rows.Single(k => k.Id == "att-2").IsPrimary);
        Assert.False(after.Rows.Single(k => k.Id == "att-1").Enabled);
    }

    [Theory]
    [InlineData("UPDATE settings SET value = '0' WHERE name = 'deny-before'")]
    [InlineData("UPDATE settings SET mac = NULL WHERE name = 'deny-before'")]
    [InlineData("UPDATE settings SET mac = (SELECT mac FROM settings WHERE name = 'mode') WHERE name = 'deny-before'")]
    public async Task An_edited_or_unmaced_setting_is_refused(string tamper)
    {
        await ExecuteAsync(tamper);
        var failure = await Assert.ThrowsAsync<RowIntegrityException>(() => _database.ReadAsync(s => s.Settings.GetAsync("deny-before"), CancellationToken.None));
        Assert.Equal(("settings", "deny-before"), (failure.Table, failure.Key));
        Assert.Equal("host-key", await _database.ReadAsync(s => s.Settings.GetAsync("mode"), CancellationToken.None));
    }

    [Fact]
    [Trait("Attack", "A67")]
    public async Task A_row_moved_to_another_key_or_table_with_its_mac_is_refused()
    {
        // Same value under another name: the MAC binds the primary key.
        await ExecuteAsync("INSERT INTO settings (name, value, mac) SELECT 'validity', value, mac FROM settings WHERE name = 'mode'");
        Assert.Equal("validity", (await Assert.ThrowsAsync<RowIntegrityException>(() => _database.ReadAsync(s => s.Settings.GetAsync("validity"), CancellationToken.None))).Key);

        // policies(name, state) has the shape of settings(name, value): the MAC binds the table too.
        await ExecuteAsync("INSERT INTO settings (name, value, mac) SELECT name, state, mac FROM policies WHERE name = 'secure-boot'");
        Assert.Equal("settings", (await Assert.ThrowsAsync<RowIntegrityException>(() => _database.ReadAsync(s => s.Settings.GetAsync("secure-boot"), CancellationToken.None))).Table);
    }

    [Fact]
    public async Task An_inserted_or_edited_fabric_key_row_is_reported_and_never_listed_as_a_key()
    {
        // The attack: an attestation signer with the attacker's certificate, copying a real row's MAC for good measure.
        await ExecuteAsync("INSERT INTO fabric_keys (id, role, label, algorithm, certificate, is_primary, enabled, created_at, mac) " +
            "SELECT 'att-evil', role, 'openhgs-att-evil', algorithm, certificate, 1, 1, created_at, mac FROM fabric_keys WHERE id = 'att-1'");
        await ExecuteAsync("UPDATE fabric_keys SET role = 'signing' WHERE id = 'att-2'");

        var keys = await _database.ReadAsync(s => s.FabricKeys.ListAsync(), CancellationToken.None);
        Assert.Equal(["att-1"], keys.Rows.Select(k => k.Id).ToArray());
        Assert.Equal(["att-2", "att-evil"], keys.Rejected.Select(r => r.Key).Order().ToArray());
        Assert.All(keys.Rejected, r => Assert.Equal("fabric_keys", r.Table));
        await Assert.ThrowsAsync<RowIntegrityException>(() => _database.ReadAsync(s => s.FabricKeys.FindAsync("att-evil"), CancellationToken.None));
    }

    [Fact]
    public async Task A_host_whose_public_key_was_swapped_is_refused()
    {
        await ExecuteAsync("UPDATE hosts SET public_key = @k, key_thumbprint = 'thumb-evil' WHERE name = 'host-a'", ("@k", new byte[] { 6, 6, 6 }));
        var failure = await Assert.ThrowsAsync<RowIntegrityException>(() => _database.ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-evil"), CancellationToken.None));
        Assert.Equal(("hosts", "host-a"), (failure.Table, failure.Key));
        Assert.Equal(["host-a"], (await _database.ReadAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rejected.Select(r => r.Key).ToArray());
    }

    [Fact]
    public async Task A_row_verified_and_remembered_before_it_was_tampered_with_is_still_refused()
    {
        // Verified rows are remembered (design change 58): read them, so the next read of the same bytes costs no MAC...
        Task<HostRecord?> Host() => _database.ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-a"), CancellationToken.None);
        Task<string?> Mode() => _database.ReadAsync(s => s.Settings.GetAsync("mode"), CancellationToken.None);
        Assert.Equal("host-a", (await Host())!.Name);
        Assert.Equal("host-key", await Mode());

        // ...then edit a column of one and swap the MAC of the other: both are checked for real and refused.
        await ExecuteAsync("UPDATE hosts SET public_key = @k WHERE name = 'host-a'", ("@k", new byte[] { 6, 6, 6 }));
        await ExecuteAsync("UPDATE settings SET mac = (SELECT mac FROM settings WHERE name = 'deny-before') WHERE name = 'mode'");
        var host = await Assert.ThrowsAsync<RowIntegrityException>(Host);
        Assert.Equal(("hosts", "host-a"), (host.Table, host.Key));
        var mode = await Assert.ThrowsAsync<RowIntegrityException>(Mode);
        Assert.Equal(("settings", "mode"), (mode.Table, mode.Key));

        // Put back byte for byte, the host row verifies again: the answer a fresh check gives.
        await ExecuteAsync("UPDATE hosts SET public_key = @k WHERE name = 'host-a'", ("@k", new byte[] { 7, 7, 7 }));
        Assert.Equal("host-a", (await Host())!.Name);
    }

    [Theory]
    [InlineData("UPDATE tpm_attestation_keys SET ak_public = @k WHERE host_name = 'host-a'", "tpm_attestation_keys")]
    [InlineData("UPDATE policies SET state = 'disabled' WHERE name = 'secure-boot'", "policies")]
    [InlineData("UPDATE baselines SET document = @k WHERE name = 'class-1'", "baselines")]
    public async Task Edited_tpm_and_policy_rows_are_refused(string tamper, string table)
    {
        await ExecuteAsync(tamper, ("@k", new byte[] { 6, 6 }));
        var failure = await Assert.ThrowsAsync<RowIntegrityException>(() => _database.InTransactionAsync<object?>(async s => table switch
        {
            "tpm_attestation_keys" => await s.Tpm.FindAttestationKeyAsync("host-a"),
            "policies" => await s.Policies.GetStatesAsync(),
            _ => await s.Policies.ListBaselinesAsync(),
        }, CancellationToken.None));
        Assert.Equal(table, failure.Table);
    }

    [Fact]
    public async Task An_edited_tpm_root_is_never_trusted()
    {
        await ExecuteAsync("UPDATE tpm_roots SET certificate = @k WHERE thumbprint = 'root-1'", ("@k", new byte[] { 6, 6 }));
        var roots = await _database.ReadAsync(s => s.Tpm.ListRootsAsync(), CancellationToken.None);
        Assert.Empty(roots.Rows);
        Assert.Equal(new RejectedRow("tpm_roots", "root-1"), Assert.Single(roots.Rejected));
    }

    [Fact]
    public async Task A_database_from_before_row_macs_is_sealed_once_at_migration_3_and_audited()
    {
        using var old = Create("upgrade");
        await old.MigrateToAsync(SqlDialect.RowMacVersion - 1, CancellationToken.None);
        await ExecuteAsync("upgrade", "INSERT INTO settings (name, value) VALUES ('deny-before', '1780000000000')");
        await ExecuteAsync("upgrade", "INSERT INTO fabric_keys (id, role, label, algorithm, certificate, is_primary, enabled, created_at) VALUES ('att-1', 'attestation-signer', 'openhgs-att-1', 'EcP256', @c, 1, 1, 1)",
            ("@c", new byte[] { 1 }));
        await ExecuteAsync("upgrade", "INSERT INTO hosts (name, mode, public_key, key_thumbprint, added_at) VALUES ('host-a', 'host-key', @k, 'thumb-a', 1)", ("@k", new byte[] { 7 }));
        Assert.Equal(SqlDialect.RowMacVersion - 1, await old.GetSchemaVersionAsync(CancellationToken.None));

        await old.MigrateAsync(CancellationToken.None);

        Assert.True(await old.GetSchemaVersionAsync(CancellationToken.None) >= SqlDialect.RowMacVersion);
        Assert.Equal("1780000000000", await old.ReadAsync(s => s.Settings.GetAsync("deny-before"), CancellationToken.None));
        Assert.Empty((await old.ReadAsync(s => s.FabricKeys.ListAsync(), CancellationToken.None)).Rejected);
        Assert.NotNull(await old.ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-a"), CancellationToken.None));
        var audit = await old.ReadAsync(s => s.Audit.TailAsync(10), CancellationToken.None);
        var sealedRecord = Assert.Single(audit, e => e.Event == AdoDatabase.RowsSealedEvent);
        Assert.Contains("\"rows\":\"3\"", sealedRecord.Details, StringComparison.Ordinal);

        // Sealed once: a row edited after the upgrade is refused, and migrating again seals nothing.
        await ExecuteAsync("upgrade", "UPDATE settings SET value = '0' WHERE name = 'deny-before'");
        await old.MigrateAsync(CancellationToken.None);
        await Assert.ThrowsAsync<RowIntegrityException>(() => old.ReadAsync(s => s.Settings.GetAsync("deny-before"), CancellationToken.None));
        Assert.Single(await old.ReadAsync(s => s.Audit.TailAsync(10), CancellationToken.None), e => e.Event == AdoDatabase.RowsSealedEvent);
    }

    private Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters) => ExecuteAsync("main", sql, parameters);

    private async Task ExecuteAsync(string database, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = OpenRaw(database);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        await command.ExecuteNonQueryAsync();
    }
}
