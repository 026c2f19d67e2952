using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using OpenHgs.Client;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Service.Admin;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>Which key store a harness initialises the service with.</summary>
public enum StoreKind
{
    Software,
    SoftHsm,
}

/// <summary>Which database a harness initialises the service with.</summary>
public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// A real OpenHGS service for one test: a fresh data folder initialised like <c>hgs server init</c>, the real
/// Kestrel host on a loopback port, a shiftable clock, and clients for the admin, tenants and hosts.
/// </summary>
public sealed class ServiceHarness : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SoftHsmToken? _token;

    private ServiceHarness(string root, string data, WebApplication app, string token, ShiftableTime time, SoftHsmToken? hsm, string? postgres)
    {
        PostgresConnectionString = postgres;
        Root = root;
        DataDirectory = data;
        _app = app;
        AdminToken = token;
        Time = time;
        _token = hsm;
        Url = app.Urls.First();
        Admin = new AdminClient([Url], token);
    }

    public string Root { get; }

    public string DataDirectory { get; }

    public string Url { get; }

    public string AdminToken { get; }

    public ShiftableTime Time { get; }

    public AdminClient Admin { get; }

    /// <summary>The running service's container (for test seams such as <c>TpmAttestationService.BeforeCommitForTests</c>).</summary>
    public IServiceProvider Services => _app.Services;

    public SoftHsmToken? Token => _token;

    public string DatabasePath => Path.Combine(DataDirectory, "hgs.db");

    /// <summary>The PostgreSQL database, when the harness runs on one.</summary>
    public string? PostgresConnectionString { get; }

    /// <param name="releaseKeyHandling">Written to hgs.json by init; null: the default for the store.</param>
    /// <param name="kpsSigningKey">The KPS signing key type init creates; null: init's default (EC P-256).</param>
    public static async Task<ServiceHarness> StartAsync(
        StoreKind kind = StoreKind.Software, DatabaseKind database = DatabaseKind.Sqlite, PostgresServer? postgresServer = null, string fabricName = "Test fabric",
        ReleaseKeyHandling? releaseKeyHandling = null, Func<OpenHgs.Crypto.IKeyStore, OpenHgs.Crypto.IKeyStore>? keyStoreDecorator = null,
        ClientRateLimit? rateLimit = null, MetricsExposure? metrics = null, bool benchHttpFloor = false, OpenHgs.Crypto.KeyAlgorithm? kpsSigningKey = null)
    {
        string? postgres = database == DatabaseKind.Postgres ? (postgresServer ?? PostgresServer.Instance).CreateDatabase("e2e") : null;
        string root = Directory.CreateTempSubdirectory("openhgs-e2e-").FullName;
        string data = Path.Combine(root, "service");
        var hsm = kind == StoreKind.SoftHsm ? new SoftHsmToken() : null;
        string keyStore = hsm?.KeyStoreUri ?? SoftwareKeyStoreProvider.DefaultUri;
        var time = new ShiftableTime();
        var init = await HgsInitializer.InitializeAsync(
            new InitRequest(data, keyStore, postgres is null ? "sqlite:hgs.db" : "postgres:" + postgres, fabricName, false, ReleaseKeyHandling: releaseKeyHandling, KpsSigningKeyAlgorithm: kpsSigningKey), time, CancellationToken.None);
        var app = await HgsServer.BuildAsync(new HgsServerOptions
        {
            DataDirectory = data,
            Urls = ["http://127.0.0.1:0"],
            Time = time,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
            KeyStoreDecorator = keyStoreDecorator,
            Metrics = metrics ?? MetricsExposure.Off,
            BenchHttpFloor = benchHttpFloor,
            RateLimit = rateLimit,   // tests drive hundreds of requests a second from 127.0.0.1: unlimited unless a test sets one
        }, CancellationToken.None);
        await app.StartAsync();
        return new ServiceHarness(root, data, app, File.ReadAllText(init.AdminTokenPath!).Trim(), time, hsm, postgres);
    }

    public async Task<GuardianMetadata> FabricGuardianAsync() => GuardianMetadata.Parse(await Admin.ExportGuardianAsync(CancellationToken.None));

    /// <summary>Generates host keys, registers them (unless told not to) and configures a host state folder.</summary>
    public async Task<HostHarness> AddHostAsync(string name, bool register = true, IReadOnlyList<string>? attestationUrls = null, IReadOnlyList<string>? keyProtectionUrls = null)
    {
        string keys = Path.Combine(Root, "hosts", name, "keys");
        Directory.CreateDirectory(keys);
        string publicKey = HostKeyPair.Generate(keys);
        if (register)
        {
            await Admin.AddHostKeyAsync(name, File.ReadAllText(publicKey), CancellationToken.None);
        }

        string state = Path.Combine(Root, "hosts", name, "state");
        new ClientConfiguration(attestationUrls ?? [Url], keyProtectionUrls ?? [Url], keys).Save(state);
        return new HostHarness(name, keys, state, publicKey, Time);
    }

    /// <summary>Runs SQL against the service database directly (to tamper with it, or to count rows).</summary>
    public async Task<long> ExecuteSqlAsync(string sql)
    {
        await using System.Data.Common.DbConnection connection = PostgresConnectionString is null
            ? new SqliteConnection($"Data Source={DatabasePath}")
            : new Npgsql.NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? 0 : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Changes policies as another node's admin API would: that node's own <see cref="PolicyService"/> (its change, the
    /// version bump and the audit record in one transaction) on the same key store and database.
    /// </summary>
    public Task AsOtherNodesPoliciesAsync(Func<PolicyService, Task> change) =>
        AsOtherNodeAsync(database => change(new PolicyService(database, new SettingsService(database, TimeProvider.System), TimeProvider.System)));

    /// <summary>Runs <paramref name="change"/> as another node would: its own connection to the database, on the same key store (its caches are not this node's).</summary>
    public async Task AsOtherNodeAsync(Func<OpenHgs.Storage.IHgsDatabase, Task> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var configuration = HgsConfiguration.Load(DataDirectory);
        using var store = HgsRuntime.OpenKeyStore(configuration, DataDirectory, production: false, NullLoggerFactory.Instance, TimeProvider.System);
        using var database = HgsRuntime.OpenDatabase(configuration, DataDirectory, TimeProvider.System, new KeyStoreRowAuthenticator(store));
        await change(database);
    }

    public Task<long> AuditCountAsync() => ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log");

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _token?.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: temp folders are cleaned by the OS eventually.
        }
    }
}

/// <summary>A guarded host: its key folder, state folder and a client.</summary>
public sealed record HostHarness(string Name, string KeyDirectory, string StateDirectory, string PublicKeyFile, TimeProvider Time)
{
    public GuardedHostClient Client() => new(StateDirectory, Time);
}
