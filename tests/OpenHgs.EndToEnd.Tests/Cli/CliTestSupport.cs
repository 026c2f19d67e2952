using System.Diagnostics;
using System.Text;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix = "openhgs-cli-") => Path = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Path { get; }

    /// <summary>A path inside the folder (nothing is created).</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a child process may still hold a file for a moment; the OS cleans /tmp.
        }
    }
}

/// <summary>
/// A loopback port that refuses connections for as long as this lives: a socket bound to it but not listening, so
/// a connection gets RST at once and no other process can take the port meanwhile (a merely "free" port could be).
/// </summary>
public sealed class ClosedPort : IDisposable
{
    private readonly System.Net.Sockets.Socket _socket = new(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);

    public ClosedPort()
    {
        _socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        Port = ((System.Net.IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public void Dispose() => _socket.Dispose();
}

/// <summary>An external tool's run: exit code and both streams.</summary>
public sealed record ToolResult(string Command, int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"$ {Command}\nexit {ExitCode}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
}

/// <summary>Runs a command-line tool (openssl, …) that must be installed: a missing tool fails the test.</summary>
public static class Tool
{
    public static async Task<ToolResult> RunAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        string command = $"{tool} {string.Join(' ', args)}";
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + command);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"'{tool}' is needed by this test and is not installed (./test.sh installs it): {ex.Message}", ex);
        }

        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(cancel.Token);
            return new ToolResult(command, process.ExitCode, await stdout, await stderr);
        }
    }
}

/// <summary>PEM files from DER certificates, as an operator would hand them to openssl.</summary>
public static class Pem
{
    public static string WriteCertificate(string path, ReadOnlySpan<byte> der)
    {
        File.WriteAllText(path, new string(System.Security.Cryptography.PemEncoding.Write("CERTIFICATE", der)) + "\n", Encoding.ASCII);
        return path;
    }
}

/// <summary>
/// A software-store data folder made by <c>hgs server init --software</c> and a <c>hgs server run</c> child process
/// serving it; <see cref="Environment"/> is what an operator exports (<c>HGS_URL</c>, <c>HGS_ADMIN_TOKEN</c>).
/// </summary>
public class SoftwareServerFixture : IAsyncLifetime
{
    private readonly TempFolder _root = new("openhgs-cli-server-");

    public string Root => _root.Path;

    public string DataDirectory => _root["service"];

    public ServerProcess Server { get; private set; } = null!;

    public string AdminToken { get; private set; } = null!;

    /// <summary>The <c>server init</c> arguments that chose the database (empty: the embedded SQLite default).</summary>
    public IReadOnlyList<string> DatabaseOptions { get; private set; } = [];

    public string Url => Server.Url;

    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["HGS_URL"] = Url,
        ["HGS_ADMIN_TOKEN"] = AdminToken,
    };

    /// <summary>A fresh folder under the fixture's root for one test's files.</summary>
    public string NewFolder(string name)
    {
        string path = Path.Combine(Root, $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    public Task<CliResult> RunAsync(params string[] args) => HgsCli.RunAsync(args, Environment);

    /// <summary>
    /// What a VM owner does before a host can unlock: export this fabric's guardian, make an owner guardian named
    /// <paramref name="owner"/> and a key protector granted to the fabric, all in <paramref name="work"/>. Returns the
    /// key protector file and the file holding its transport key.
    /// </summary>
    public async Task<(string KeyProtector, string TransportKey)> NewKeyProtectorAsync(string work, string owner)
    {
        string P(string name) => Path.Combine(work, name);
        (await RunAsync("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", owner, "--out", P("owner.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();
        return (P("vm.kp"), P("vm.tk"));
    }

    /// <summary><c>hgs client configure</c> of a host-key host with the keys in <paramref name="hostKeys"/>, attesting and unlocking here.</summary>
    public async Task ConfigureHostAsync(string state, string hostKeys) =>
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", Url, "--key-protection-url", Url, "--host-key", hostKeys)).Succeeded();

    public async Task InitializeAsync()
    {
        DatabaseOptions = DatabaseArguments();
        (await HgsCli.RunAsync(["server", "init", "--data", DataDirectory, "--software", "--name", "CLI test fabric", .. DatabaseOptions], environment: null)).Succeeded();
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "admin.token"))).Trim();
        Server = await ServerProcess.StartAsync(DataDirectory);
    }

    /// <summary>Extra <c>server init</c> arguments choosing the database (none: the embedded SQLite default).</summary>
    protected virtual string[] DatabaseArguments() => [];

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        _root.Dispose();
    }
}

/// <summary>The same served folder, initialised with <c>--database</c> on a real PostgreSQL server.</summary>
public sealed class PostgresServerFixture : SoftwareServerFixture
{
    protected override string[] DatabaseArguments() => ["--database", OpenHgs.Testing.PostgresServer.Instance.CreateDatabase("cli")];
}
