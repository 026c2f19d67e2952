using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OpenHgs.Tpm.Commands;

namespace OpenHgs.Testing;

/// <summary>
/// Starts a private swtpm for the test run:
/// <list type="number">
/// <item><c>swtpm_setup --tpm2 --tpmstate DIR/state --create-ek-cert --create-platform-cert --lock-nvram
/// --pcr-banks sha1,sha256 --config DIR/swtpm_setup.conf --write-ek-cert-files DIR</c>, with a private
/// swtpm-localca configuration whose CA lives in DIR/ca (the system-wide /var/lib/swtpm-localca is not touched);</item>
/// <item><c>swtpm socket --tpm2 --server type=tcp,port=P,bindaddr=127.0.0.1 --ctrl type=tcp,port=P+1,bindaddr=127.0.0.1
/// --flags not-need-init,startup-clear --tpmstate dir=DIR/state</c> on a free port pair.</item>
/// </list>
/// Fails (never skips) when swtpm is not installed. swtpm serves one connection at a time: dispose a client
/// before running tpm2-tools against the same instance.
/// </summary>
public sealed class SwtpmFixture : IDisposable
{
    private readonly Process _process;

    /// <summary>A swtpm with the SHA-1 and SHA-256 PCR banks active.</summary>
    public SwtpmFixture()
        : this("sha1,sha256")
    {
    }

    /// <summary>A swtpm with only <paramref name="pcrBanks"/> active (swtpm_setup --pcr-banks, e.g. "sha1").</summary>
    public static SwtpmFixture WithPcrBanks(string pcrBanks) => new(pcrBanks);

    private SwtpmFixture(string pcrBanks)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pcrBanks);
        var swtpm = FindTool("swtpm");
        var setup = FindTool("swtpm_setup");
        Directory = Path.Combine(Path.GetTempPath(), "openhgs-tpm-tests-" + Guid.NewGuid().ToString("N")[..12]);
        var state = Path.Combine(Directory, "state");
        var ca = Path.Combine(Directory, "ca");
        System.IO.Directory.CreateDirectory(state);
        System.IO.Directory.CreateDirectory(ca);
        File.WriteAllText(Path.Combine(Directory, "swtpm-localca.conf"),
            $"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n");
        File.WriteAllText(Path.Combine(Directory, "swtpm-localca.options"),
            "--platform-manufacturer OpenHGS\n--platform-version 1.0\n--platform-model swtpm\n");
        File.WriteAllText(Path.Combine(Directory, "swtpm_setup.conf"),
            $"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {Directory}/swtpm-localca.conf\n" +
            $"create_certs_tool_options = {Directory}/swtpm-localca.options\nactive_pcr_banks = {pcrBanks}\n");

        Run(setup, ["--tpm2", "--tpmstate", state, "--create-ek-cert", "--create-platform-cert", "--lock-nvram",
            "--pcr-banks", pcrBanks, "--config", Path.Combine(Directory, "swtpm_setup.conf"),
            "--write-ek-cert-files", Directory], TimeSpan.FromSeconds(120));

        Exception? last = null;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var port = LoopbackPorts.FreePair();
            var process = Process.Start(new ProcessStartInfo(swtpm)
            {
                ArgumentList =
                {
                    "socket", "--tpm2",
                    "--server", $"type=tcp,port={port},bindaddr=127.0.0.1",
                    "--ctrl", $"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                    "--flags", "not-need-init,startup-clear",
                    "--tpmstate", $"dir={state}",
                    "--log", $"file={Path.Combine(Directory, "swtpm.log")}",
                },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            if (WaitForPort(port, process, TimeSpan.FromSeconds(15)))
            {
                _process = process;
                Port = port;
                return;
            }
            last = new InvalidOperationException($"swtpm did not listen on {port}: {process.StandardError.ReadToEnd()}");
            StopProcess(process);
        }
        throw new InvalidOperationException("could not start swtpm", last);
    }

    /// <summary>Working directory (state, CA, EK certificates).</summary>
    public string Directory { get; }

    /// <summary>Data-channel port (control channel is Port + 1).</summary>
    public int Port { get; }

    /// <summary>The <c>swtpm:host=127.0.0.1,port=N</c> specification.</summary>
    public string Specification => $"swtpm:host=127.0.0.1,port={Port}";

    /// <summary>TPM2TOOLS_TCTI value for tpm2-tools.</summary>
    public string Tcti => $"swtpm:host=127.0.0.1,port={Port}";

    /// <summary>The local CA's root certificate (PEM), the TPM "manufacturer root" for EK chain tests.</summary>
    public string RootCertificatePath => Path.Combine(Directory, "ca", "swtpm-localca-rootca-cert.pem");

    /// <summary>The local CA's intermediate (issuer) certificate (PEM).</summary>
    public string IssuerCertificatePath => Path.Combine(Directory, "ca", "issuercert.pem");

    /// <summary>Opens a new client connection (dispose it before the next one or a tpm2-tools call).</summary>
    public TpmClient CreateClient() => TpmClient.Open(Specification);

    /// <summary>Runs a tpm2-tools command against this swtpm; returns stdout; throws with stderr on failure.</summary>
    public string RunTpm2Tool(string tool, params string[] args) =>
        Run(FindTool(tool), args, TimeSpan.FromSeconds(60), new Dictionary<string, string> { ["TPM2TOOLS_TCTI"] = Tcti });

    public void Dispose()
    {
        StopProcess(_process);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Full path of a tool on PATH, or an exception telling the developer how to install it.</summary>
    public static string FindTool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException(
            $"'{name}' is not installed; run ./test.sh, which installs swtpm, swtpm-tools and tpm2-tools.");
    }

    private static string Run(string file, string[] args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', args)} timed out");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(file)} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}{stdout.Result}");
        }
        return stdout.Result;
    }

    private static bool WaitForPort(int port, Process process, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                return false;
            }
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }
        return false;
    }

    private static void StopProcess(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }
}
