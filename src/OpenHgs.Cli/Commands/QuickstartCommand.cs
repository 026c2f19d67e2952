using System.CommandLine;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using OpenHgs.Client;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Server.Hosting;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// <c>hgs quickstart</c>: the embedded default end to end, in one process — initialise a data folder
/// (SQLite + software key store), run the service on a loopback port, create a VM owner's guardian and a key
/// protector granted to the fabric, register and attest a guarded host, unlock, and verify the audit trail.
/// </summary>
internal static class QuickstartCommand
{
    public static Command Build()
    {
        var data = CliOptions.Path("--data", "Data folder to create (default: .hgs/quickstart-<time> under the current folder).");
        var command = new Command("quickstart", "Set up the embedded default and walk one guarded host through attestation and key release.") { data };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () => RunAsync(parse.GetValue(data), ct)));
        return command;
    }

    private static async Task<int> RunAsync(string? dataOption, CancellationToken ct)
    {
        string root = Path.GetFullPath(dataOption ?? Path.Combine(".hgs", $"quickstart-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new CliException($"'{root}' exists and is not empty; pass another --data.");
        }

        string data = Path.Combine(root, "service");
        var init = await HgsInitializer.InitializeAsync(new InitRequest(data, SoftwareKeyStoreProvider.DefaultUri, "sqlite:hgs.db", "Quickstart fabric", false), TimeProvider.System, ct).ConfigureAwait(false);
        Step($"Initialised the service in {data} (SQLite, software key store); keys {string.Join(", ", init.KeyIds)}");

        await using var app = await HgsServer.BuildAsync(new HgsServerOptions { DataDirectory = data, Urls = ["http://127.0.0.1:0"], MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning }, ct).ConfigureAwait(false);
        await app.StartAsync(ct).ConfigureAwait(false);
        string url = app.Urls.First();
        Step($"Service running at {url}");

        string token = (await File.ReadAllTextAsync(init.AdminTokenPath ?? throw new CliException("quickstart: no admin credential was created", ExitCodes.Internal), ct).ConfigureAwait(false)).Trim();
        using var admin = new AdminClient([url], token);
        var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(ct).ConfigureAwait(false));
        Step($"Exported the fabric guardian '{fabric.Name}' (wraps with {string.Join(", ", fabric.WrapAlgorithms)})");

        using var owner = LocalGuardian.Create("quickstart-owner", TimeProvider.System);
        byte[] transportKey = RandomNumberGenerator.GetBytes(32);
        var protector = KeyProtectorBuilder.Create(owner, [fabric], transportKey);
        string kpPath = Path.Combine(root, "vm1.kp");
        await File.WriteAllBytesAsync(kpPath, protector.ToJson(), ct).ConfigureAwait(false);
        Step($"VM owner created a key protector for vm1 granted to the fabric ({kpPath})");

        string hostKeys = Path.Combine(root, "host-keys");
        Directory.CreateDirectory(hostKeys);
        string publicKey = HostKeyPair.Generate(hostKeys);
        await admin.AddHostKeyAsync("quickstart-host", await File.ReadAllTextAsync(publicKey, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        Step("Registered guarded host 'quickstart-host' by its host key");

        string state = Path.Combine(root, "host-state");
        new ClientConfiguration([url], [url], hostKeys).Save(state);
        using var host = new GuardedHostClient(state);
        var attested = await host.AttestAsync(ct).ConfigureAwait(false);
        if (!attested.Passed)
        {
            throw new CliException("quickstart attestation failed: " + string.Join("; ", attested.Response.Reasons.Select(r => r.Code)), ExitCodes.Refused);
        }

        Step($"Host attested: {attested.Response.Status}, health certificate valid until {attested.Response.ValidUntil:O}");

        var unlocked = await host.UnlockAsync(protector.ToJson(), ct).ConfigureAwait(false);
        bool same = CryptographicOperations.FixedTimeEquals(unlocked.TransportKey, transportKey);
        CryptographicOperations.ZeroMemory(unlocked.TransportKey);
        CryptographicOperations.ZeroMemory(unlocked.EgressTransportKey);
        CryptographicOperations.ZeroMemory(transportKey);
        if (!same)
        {
            throw new CliException("quickstart: the released transport key differs from the owner's", ExitCodes.Internal);
        }

        Step("Key release returned exactly the owner's transport key, and a rolled key protector");
        var audit = await admin.VerifyAuditAsync(ct).ConfigureAwait(false);
        if (!audit.Valid)
        {
            throw new CliException($"quickstart: audit chain broken at {audit.FirstBrokenSequence}: {audit.Problem}", ExitCodes.Internal);
        }

        Step($"Audit trail verified: {audit.Records} hash-chained records");
        await app.StopAsync(ct).ConfigureAwait(false);
        CliOutput.Line($"Quickstart complete. Run it yourself: ./hgs server run --data {data} --urls http://127.0.0.1:8080");
        return ExitCodes.Success;
    }

    private static void Step(string text) => CliOutput.Line("✓ " + text);
}
