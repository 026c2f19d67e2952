using System.Diagnostics;
using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Testing;

/// <summary>
/// Two (or more) SoftHSM2 tokens with identical keys, each served by its own <c>p11-kit server</c> process over a Unix
/// socket and reached through its own copy of <c>p11-kit-client.so</c>: an HSM cluster whose members can be killed and
/// restarted for real, usable in process (<see cref="Open"/>) and by <c>hgs server</c> processes (<see cref="ClusterUri"/>).
/// </summary>
/// <remarks>
/// <para>Setup, as docs/hsm-cluster.md prescribes for members that do not replicate: the constructor initialises one
/// token (<c>softhsm2-util</c>, own SOFTHSM2_CONF) and starts only the first member's server; the caller creates the
/// keys through <see cref="MemberUri"/>(0) (in process, or with <c>hgs server init</c>); <see cref="ReplicateFirstToken"/>
/// then stops that server, copies the token directory to every other member and starts every server. Each server has
/// its own SOFTHSM2_CONF, which is only possible because SoftHSM runs in the server processes, not in the clients.</para>
/// <para>Why module copies: p11-kit-client takes its server address from the process-wide
/// <c>P11_KIT_SERVER_ADDRESS</c>, read when the module's C_GetFunctionList runs (measured with p11-kit 0.24.1:
/// changing it later has no effect; after the server dies every call answers CKR_DEVICE_ERROR until the module is
/// finalised and initialised again, which then reconnects). OpenHGS loads each module file once per process, so
/// each member gets its own copy of the .so (a different file, hence a separate dlopen instance with its own
/// state), and its URI (<see cref="MemberUri"/>) carries <c>module-env=P11_KIT_SERVER_ADDRESS=unix:path=SOCKET</c>,
/// which the PKCS#11 key store sets natively while that copy loads, as a production configuration would. One copy per
/// member is enough for any number of processes: each process dlopens its own instance of it.</para>
/// <para>A killed server process is really killed: the listener and its per-connection <c>p11-kit-remote</c>
/// children. The PIN is published in a process environment variable (<see cref="PinVariable"/>), which child
/// processes such as <c>hgs server run</c> inherit; the p11-kit servers do not get it.</para>
/// <para>Missing p11-kit, p11-kit-modules or softhsm2 makes the constructor throw: the tests fail, they are never
/// skipped (./test.sh and scripts/install-test-deps.sh install them).</para>
/// </remarks>
public sealed class P11KitTokenServers : IDisposable
{
    private const string AddressVariable = "P11_KIT_SERVER_ADDRESS";
    private static readonly string[] ClientModuleCandidates =
    [
        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib/pkcs11/p11-kit-client.so",
    ];

    private static readonly string[] SoftHsmCandidates =
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    ];

    private readonly string _root;
    private readonly string _p11Kit;
    private readonly string _softHsm;
    private readonly Server[] _servers;
    private bool _replicated;

    /// <summary>Two members; see <see cref="P11KitTokenServers(int)"/>.</summary>
    public P11KitTokenServers()
        : this(2)
    {
    }

    /// <summary>
    /// Prepares <paramref name="members"/> members, initialises the first member's token (no keys yet) and starts only
    /// the first member's server. Create the keys through <see cref="MemberUri"/>(0), then call <see cref="ReplicateFirstToken"/>.
    /// </summary>
    public P11KitTokenServers(int members)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(members, 1);
        _p11Kit = ExternalTool.Locate("p11-kit") ?? throw Missing("the p11-kit command (Debian package p11-kit)");
        string clientModule = ClientModuleCandidates.FirstOrDefault(File.Exists) ?? throw Missing("p11-kit-client.so (Debian package p11-kit-modules)");
        _softHsm = SoftHsmCandidates.FirstOrDefault(File.Exists) ?? throw Missing("the SoftHSM2 module (Debian package softhsm2)");
        string softHsmUtil = ExternalTool.Locate("softhsm2-util") ?? throw Missing("softhsm2-util (Debian package softhsm2)");

        _root = Path.Combine(Path.GetTempPath(), $"openhgs-p11kit-{Environment.ProcessId}-{RandomNumberGenerator.GetHexString(8, lowercase: true)}");
        Directory.CreateDirectory(_root);
        TokenLabel = "OpenHGS-cluster";
        string pin = RandomNumberGenerator.GetHexString(16, lowercase: true);
        PinVariable = $"OPENHGS_TEST_CLUSTER_PIN_{RandomNumberGenerator.GetHexString(8, lowercase: false)}";
        Environment.SetEnvironmentVariable(PinVariable, pin);

        try
        {
            _servers = Prepare(members, clientModule);
            Server first = _servers[0];
            Directory.CreateDirectory(first.TokenDirectory);
            Run(softHsmUtil, ["--init-token", "--free", "--label", TokenLabel, "--pin", pin, "--so-pin", RandomNumberGenerator.GetHexString(16, lowercase: true)],
                first.ConfigFile, pin);
            Start(0);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The label of the token every member serves (the same token, copied).</summary>
    public string TokenLabel { get; }

    /// <summary>The process environment variable holding the token's user PIN, named by each member's <c>pin-source</c>.</summary>
    public string PinVariable { get; }

    /// <summary>The number of members.</summary>
    public int Count => _servers.Length;

    /// <summary>
    /// The member's key store URI: the token behind its own copy of p11-kit-client.so, pointed at the member's server by
    /// <c>module-env=P11_KIT_SERVER_ADDRESS=unix:path=SOCKET</c>.
    /// </summary>
    public string MemberUri(int index) =>
        KeyStoreUri.Create(Pkcs11KeyStoreProvider.SchemeName, [new("token", TokenLabel)],
        [
            new("module-path", _servers[index].ClientModule),
            new("module-env", $"{AddressVariable}=unix:path={_servers[index].Socket}"),
            new("pin-source", $"env:{PinVariable}"),
        ]).Text;

    /// <summary>
    /// A <c>cluster:</c> key store URI over every member, with <c>member-concurrency=1</c> (which p11-kit remoting needs,
    /// see docs/hsm-cluster.md) and the given breaker back-off.
    /// </summary>
    public string ClusterUri(TimeSpan retryInitial, TimeSpan retryMaximum) =>
        KeyStoreUri.Create("cluster", [],
        [
            .. Enumerable.Range(0, Count).Select(i => new KeyValuePair<string, string>("member", MemberUri(i))),
            new("member-concurrency", "1"),
            new("retry-initial-ms", ((long)retryInitial.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("retry-max-ms", ((long)retryMaximum.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ]).Text;

    /// <summary>The Unix socket member <paramref name="index"/>'s server listens on (the value of its <c>module-env</c>).</summary>
    public string Socket(int index) => _servers[index].Socket;

    /// <summary>Member <paramref name="index"/>'s copy of p11-kit-client.so.</summary>
    public string ClientModule(int index) => _servers[index].ClientModule;

    /// <summary>
    /// Gives every member the first member's token, keys included: stops the first server (so the token files are at
    /// rest), copies its token directory to every other member, and starts every server. The way to put keys made on
    /// one SoftHSM2 token onto the others (docs/hsm-cluster.md, "CreateKey / DeleteKey"). Once only.
    /// </summary>
    public void ReplicateFirstToken()
    {
        if (_replicated)
        {
            throw new InvalidOperationException("The first token was replicated already.");
        }

        _replicated = true;
        Kill(0);
        foreach (Server server in _servers.Skip(1))
        {
            CopyDirectory(_servers[0].TokenDirectory, server.TokenDirectory);
        }

        for (int i = 0; i < _servers.Length; i++)
        {
            Start(i);
        }
    }

    /// <summary>Opens member <paramref name="index"/>'s token from its URI; the module copy connects to that member's server.</summary>
    public IKeyStore Open(int index) =>
        new Pkcs11KeyStoreProvider().Open(KeyStoreUri.Parse(MemberUri(index)), new KeyStoreOpenContext(_root, Production: false));

    /// <summary>Starts member <paramref name="index"/>'s server (again) and waits until it listens.</summary>
    public void Start(int index)
    {
        Server server = _servers[index];
        if (server.Process is { HasExited: false })
        {
            throw new InvalidOperationException($"{server.Name}'s p11-kit server already runs.");
        }

        File.Delete(server.Socket);
        var start = new ProcessStartInfo(_p11Kit)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])["server", "-f", "-n", server.Socket, "--provider", _softHsm, $"pkcs11:token={TokenLabel}"])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SOFTHSM2_CONF"] = server.ConfigFile;
        start.Environment.Remove(PinVariable);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith(AddressVariable + "=", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        server.Process = process;
        if (!ready.Task.Wait(TimeSpan.FromSeconds(15)) || !File.Exists(server.Socket))
        {
            Kill(index);
            throw new InvalidOperationException($"p11-kit server for {server.Name} did not start listening on {server.Socket}.");
        }
    }

    /// <summary>Kills member <paramref name="index"/>'s server with SIGKILL: the listener and the processes serving connections.</summary>
    public void Kill(int index)
    {
        Server server = _servers[index];
        if (server.Process is not { } process)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        process.WaitForExit(10_000);
        process.Dispose();
        server.Process = null;
    }

    /// <summary>Kills every server, clears the PIN variable and deletes the tokens and module copies.</summary>
    public void Dispose()
    {
        // Also called by a constructor that failed half-way, before there were servers.
        for (int i = 0; i < (_servers?.Length ?? 0); i++)
        {
            Kill(i);
        }

        Environment.SetEnvironmentVariable(PinVariable, null);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>A directory, a SoftHSM2 configuration and a copy of p11-kit-client.so for each member.</summary>
    private Server[] Prepare(int members, string clientModule)
    {
        var servers = Enumerable.Range(1, members).Select(i =>
        {
            string directory = Path.Combine(_root, $"m{i}");
            Directory.CreateDirectory(directory);
            string module = Path.Combine(directory, "p11-kit-client.so");
            File.Copy(clientModule, module);
            return new Server($"m{i}", directory, Path.Combine(directory, "softhsm2.conf"), Path.Combine(directory, "tokens"), Path.Combine(directory, "p11.sock"), module);
        }).ToArray();

        foreach (Server server in servers)
        {
            File.WriteAllText(server.ConfigFile, $"""
                directories.tokendir = {server.TokenDirectory}
                objectstore.backend = file
                log.level = ERROR
                slots.removable = false

                """);
        }

        return servers;
    }

    private static InvalidOperationException Missing(string what) =>
        new($"The HSM cluster tests need {what}, which is not installed. Run ./test.sh, which installs softhsm2, p11-kit and p11-kit-modules.");

    private static void Run(string tool, string[] arguments, string softHsmConfig, string secret)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["SOFTHSM2_CONF"] = softHsmConfig;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(tool)} failed: {(errors.Result + output.Result).Replace(secret, "***", StringComparison.Ordinal)}");
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
        }

        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }

    private sealed record Server(string Name, string Directory, string ConfigFile, string TokenDirectory, string Socket, string ClientModule)
    {
        public Process? Process { get; set; }
    }
}
