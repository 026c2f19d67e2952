using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;
using OpenHgs.Storage.Postgres;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Storage;

/// <summary>The backup catalog against a real SQLite file built by the migrations.</summary>
public sealed class SqliteBackupCatalogTests : BackupCatalogTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-backup-catalog-").FullName;

    protected override AdoDatabase Create() => new SqliteDatabase(Path.Combine(_directory, "catalog.db"), TimeProvider.System, Rows.Authenticator);

    protected override async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "catalog.db")};Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    protected override void Cleanup()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>The backup catalog against a real PostgreSQL database built by the migrations.</summary>
public sealed class PostgresBackupCatalogTests : BackupCatalogTests
{
    private readonly string _connectionString = PostgresServer.Instance.CreateDatabase("catalog");

    protected override AdoDatabase Create() => new PostgresDatabase(_connectionString, TimeProvider.System, Rows.Authenticator);

    protected override async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    protected override void Cleanup() => NpgsqlConnection.ClearAllPools();
}

/// <summary>
/// A backup covers every table of the schema: each table the migrations create is backed up or excluded with a reason,
/// with exactly the columns the catalog writes, and the catalog's row MAC encoding is the one the tables seal with.
/// </summary>
public abstract class BackupCatalogTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);
    private AdoDatabase _database = null!;

    protected SoftwareRowKey Rows { get; } = new();

    protected abstract AdoDatabase Create();

    protected abstract void Cleanup();

    public async Task InitializeAsync()
    {
        _database = Create();
        await _database.MigrateAsync(CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _database.Dispose();
        Cleanup();
        Rows.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Every_table_and_column_the_migrations_create_is_backed_up_or_deliberately_excluded()
    {
        var schema = await _database.ReadSchemaAsync(CancellationToken.None);
        Assert.Null(BackupCatalog.Difference(schema));
        Assert.Equal(
            BackupCatalog.Tables.Select(t => t.Name).Concat(BackupCatalog.Excluded.Keys).Order(StringComparer.Ordinal),
            schema.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(SqlDialect.CurrentVersion, await _database.GetSchemaVersionAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_new_table_or_column_the_catalog_does_not_know_is_named()
    {
        await ExecuteAsync("CREATE TABLE forgotten_state (id TEXT PRIMARY KEY)");
        await ExecuteAsync("ALTER TABLE hosts ADD COLUMN forgotten_column TEXT NULL");

        string? difference = BackupCatalog.Difference(await _database.ReadSchemaAsync(CancellationToken.None));
        Assert.NotNull(difference);
        Assert.Contains("table 'forgotten_state' is neither backed up nor excluded", difference, StringComparison.Ordinal);
        Assert.Contains("table 'hosts' has columns (name, mode, public_key, key_thumbprint, added_at, mac, ek_certificate, ek_chain, forgotten_column)", difference, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rows_written_by_the_tables_verify_with_the_catalogs_row_mac_encoding_and_an_edited_one_does_not()
    {
        await _database.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync("mode", "host-key");
            await s.FabricKeys.AddAsync(new FabricKeyRecord("att-1", "attestation-signer", "openhgs-att-1", "EcP256", [1, 2, 3], true, false, Now));
            await s.Hosts.AddAsync(new HostRecord("host-a", "host-key", [7, 7, 7], "thumb-a", Now));
            await s.Hosts.AddAsync(new HostRecord("host-b", "tpm", [7, 7, 8], "thumb-b", Now, EkCertificate: [12, 12], EkChain: "0123@ca:ab"));
            await s.Hosts.AddAsync(new HostRecord("host-c", "tpm", [7, 7, 9], "thumb-c", Now, EkChain: string.Empty));
            await s.Tpm.AddRootAsync(new TpmRootRecord("root-1", "CN=Root", [8, 8], Now));
            await s.TpmCrls.SetAsync(new TpmCrlRecord("root-1", "CN=Root", "0a", Now, Now.AddDays(7), [11, 11], Now));
            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord("host-a", [9, 9], Now));
            await s.Policies.SetStateAsync("secure-boot", "enabled");
            await s.Policies.AddBaselineAsync(new BaselineRecord("class-1", [10, 10], Now));
            await s.Audit.AppendAsync(new AuditEvent("test.event", "success", "subject", null, "{}"));
            return 0;
        }, CancellationToken.None);

        var counts = await _database.InSnapshotAsync(async t =>
        {
            var integrity = new BackupIntegrity(Rows.Authenticator, _ => true, Now);
            foreach (var table in BackupCatalog.Tables)
            {
                await foreach (var values in t.ReadAsync(table))
                {
                    integrity.Row(table, values);
                    if (table.RowMac)
                    {
                        var edited = (object?[])values.Clone();
                        edited[1] = edited[1] switch { string s => s + "x", byte[] b => b.Append((byte)0).ToArray(), long l => l + 1, _ => edited[1] };
                        Assert.Equal(BackupCodes.RowIntegrity, Assert.Throws<BackupException>(() => integrity.Row(table, edited)).Code);
                    }

                    if (table.Name == "hosts")
                    {
                        // The EK columns of migration 10 (after mac) are covered: cleared or set, the row no longer verifies.
                        var cleared = (object?[])values.Clone();
                        cleared[^1] = cleared[^1] is null ? "0@ca:x" : null;
                        Assert.Equal(BackupCodes.RowIntegrity, Assert.Throws<BackupException>(() => integrity.Row(table, cleared)).Code);
                    }
                }
            }

            Assert.Equal(1, integrity.Finish().Chain.Records);
            return integrity.Counts;
        }, CancellationToken.None);
        foreach (var table in BackupCatalog.Tables.Where(t => t.RowMac))
        {
            Assert.True(counts[table.Name] >= 2, $"{table.Name}: the original and the edited row were checked");
        }
    }

    /// <summary>Runs DDL on the database outside OpenHGS (what a later migration, or someone else, would add).</summary>
    protected abstract Task ExecuteAsync(string sql);
}
