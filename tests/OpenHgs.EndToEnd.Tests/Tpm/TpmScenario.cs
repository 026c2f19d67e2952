using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// A TPM-mode fabric for one test: the real service (TPM mode), a fresh swtpm whose EK certificate was made by
/// swtpm_setup's local CA (registered as the TPM root and intermediate), its PCRs extended with one real machine's
/// event log, and helpers to enrol guarded hosts and register baselines.
/// </summary>
public sealed class TpmScenario : IAsyncDisposable
{
    private readonly List<SwtpmFixture> _tpms = [];

    private TpmScenario(ServiceHarness service, SwtpmFixture tpm)
    {
        Service = service;
        Tpm = tpm;
        _tpms.Add(tpm);
        Admin = new TpmAdminClient([service.Url], service.AdminToken);
    }

    public ServiceHarness Service { get; }

    /// <summary>The host's TPM.</summary>
    public SwtpmFixture Tpm { get; }

    public TpmAdminClient Admin { get; }

    /// <summary>
    /// Starts the service in TPM mode and a swtpm (with <paramref name="pcrBanks"/> active) booted (by replay) with
    /// <paramref name="logName"/>; registers the swtpm CA.
    /// </summary>
    public static async Task<TpmScenario> StartAsync(string logName = "Rhel8GCE", StoreKind store = StoreKind.Software, bool registerRoots = true,
        DatabaseKind database = DatabaseKind.Sqlite, string pcrBanks = "sha1,sha256")
    {
        var service = await ServiceHarness.StartAsync(store, database);
        var scenario = new TpmScenario(service, BootedTpm(logName, pcrBanks));
        await service.Admin.SetModeAsync("tpm", CancellationToken.None);
        if (registerRoots)
        {
            await scenario.RegisterRootsOfAsync(scenario.Tpm);
        }

        return scenario;
    }

    /// <summary>Another swtpm (own EK, own CA) booted with <paramref name="logName"/>; disposed with the scenario.</summary>
    public SwtpmFixture AnotherTpm(string logName = "Rhel8GCE")
    {
        var tpm = BootedTpm(logName);
        _tpms.Add(tpm);
        return tpm;
    }

    public async Task RegisterRootsOfAsync(SwtpmFixture tpm)
    {
        await Admin.AddRootAsync(File.ReadAllText(tpm.RootCertificatePath), CancellationToken.None);
        await Admin.AddRootAsync(File.ReadAllText(tpm.IssuerCertificatePath), CancellationToken.None);
    }

    /// <summary>Writes a corpus log (or given bytes) into the scenario folder and returns its path.</summary>
    public string WriteLog(string fileName, byte[] bytes)
    {
        string path = Path.Combine(Service.Root, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Registers <paramref name="logName"/>'s measurements as a baseline named after it.</summary>
    public Task<BaselineInfo> AddBaselineAsync(string logName) =>
        Admin.AddBaselineAsync(logName, BaselineCapture.Describe(TestData.ReadLog(logName), "class-" + logName, DateTimeOffset.UtcNow).Document, CancellationToken.None);

    /// <summary>
    /// A guarded host on <paramref name="tpm"/> (default: <see cref="Tpm"/>) presenting <paramref name="logName"/>'s log:
    /// configured, registered by its identity (unless <paramref name="register"/> is false) and activated (unless
    /// <paramref name="activate"/> is false, in which case its keys are still created).
    /// </summary>
    public async Task<HostHarness> EnrolAsync(string name, string logName = "Rhel8GCE", SwtpmFixture? tpm = null, bool register = true, bool activate = true)
    {
        tpm ??= Tpm;
        string state = Path.Combine(Service.Root, "hosts", name, "state");
        string log = WriteLog(name + ".log", TestData.ReadLog(logName));
        new ClientConfiguration([Service.Url], [Service.Url], null, tpm.Specification, log).Save(state);
        var host = new HostHarness(name, string.Empty, state, string.Empty, Service.Time);
        using var client = host.Client();
        if (register)
        {
            await Admin.AddHostAsync(name, client.TpmAgent!.Identify(), allowWithoutCertificate: false, CancellationToken.None);
        }

        if (activate)
        {
            await client.ActivateTpmAsync(CancellationToken.None);
        }
        else
        {
            client.TpmAgent!.CreateKeys();
        }

        return host;
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Service.DisposeAsync();
        _tpms.ForEach(t => t.Dispose());
    }

    /// <summary>A swtpm whose firmware "measured" <paramref name="logName"/>: every bank the log declares that the TPM has active.</summary>
    private static SwtpmFixture BootedTpm(string logName, string pcrBanks = "sha1,sha256")
    {
        var tpm = SwtpmFixture.WithPcrBanks(pcrBanks);
        try
        {
            using var client = tpm.CreateClient();
            client.Startup();
            var log = EventLogParser.Parse(TestData.ReadLog(logName));
            var active = client.GetPcrBanks().Where(b => b.Pcrs.Count > 0).Select(b => b.Hash).ToHashSet();
            client.ExtendEventLog(log, log.Banks.Where(active.Contains).ToList());
            return tpm;
        }
        catch
        {
            tpm.Dispose();
            throw;
        }
    }
}
