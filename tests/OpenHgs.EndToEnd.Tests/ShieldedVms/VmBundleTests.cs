using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using OpenHgs.Testing;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// <c>hgs vm new</c> / <c>hgs vm show</c> (issue 11 §1) with the real swtpm: the bundle's vTPM state opens with the key
/// protector's transport key only (a wrong key never yields a running vTPM), holds a manufactured TPM (its EK), and
/// never holds the TPM's contents in clear; a changed key protector, state or manifest is refused by name; a refused
/// creation leaves nothing behind.
/// </summary>
public sealed class VmBundleTests
{
    private const string EkHandle = "0x81010001";

    [Fact]
    public async Task The_vtpm_state_opens_with_the_transport_key_only_and_holds_nothing_in_clear()
    {
        using var root = new TempFolder("openhgs-vm-");
        var (ownerFile, fabricFile) = BundleFolder.Guardians(root);
        string bundle = root["vm1"];
        var created = (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--guardian", fabricFile, "--out", bundle, "--json")).Succeeded().Json();
        Assert.Equal(("vm1", "owner", "fabric"), ((string?)created["name"], (string?)created["owner"], (string?)created["guardians"]![0]));
        Assert.Equal(created.ToJsonString(), (await HgsCli.RunAsync("vm", "show", bundle, "--json")).Succeeded().Json().ToJsonString());
        Assert.Equal(["vm.json", "vm.kp", "vm.lock", "vtpm"], BundleFolder.Entries(bundle));
        Assert.Empty(Directory.EnumerateDirectories(root.Path, "vm1.creating-*"));

        // The owner can unwrap the transport key from the key protector; the state opens with it.
        using var owner = LocalGuardian.Parse(File.ReadAllText(ownerFile));
        byte[] key = KeyProtectorBuilder.UnwrapAsOwner(KeyProtector.Parse(File.ReadAllBytes(Path.Combine(bundle, "vm.kp"))), owner);
        string state = Path.Combine(bundle, "vtpm");
        byte[] ekModulus;
        await using (var vtpm = await RunningVtpm.StartAsync(state, key))
        {
            Assert.True(vtpm.Running, vtpm.Error);
            Assert.Equal(16, Convert.FromHexString(vtpm.Tool("tpm2_getrandom", "--hex", "16").Trim()).Length);
            string ek = vtpm.Tool("tpm2_readpublic", "-c", EkHandle, "-f", "der", "-o", root["ek.der"]);
            Assert.Contains("rsa", ek, StringComparison.Ordinal);
            using var rsa = System.Security.Cryptography.RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(File.ReadAllBytes(root["ek.der"]), out _);
            ekModulus = rsa.ExportParameters(false).Modulus!;
        }

        // Encrypted: no 16-byte run of the EK's public modulus (which a clear state carries) appears in the state file.
        byte[] stateBytes = File.ReadAllBytes(Path.Combine(state, "tpm2-00.permall"));
        for (int i = 0; i + 16 <= ekModulus.Length; i += 16)
        {
            Assert.Equal(-1, stateBytes.AsSpan().IndexOf(ekModulus.AsSpan(i, 16)));
        }

        // A wrong key never gives a running vTPM.
        byte[] wrong = (byte[])key.Clone();
        wrong[0] ^= 1;
        await using (var vtpm = await RunningVtpm.StartAsync(state, wrong))
        {
            Assert.False(vtpm.Running, "swtpm started with a wrong key");
        }
    }

    [Theory]
    [InlineData("vm.kp", "KeyProtectorMismatch", 1)]
    [InlineData("vtpm/tpm2-00.permall", "VtpmStateMismatch", 1)]
    [InlineData("vm.json", "BundleMalformed", 2)]
    public async Task A_changed_bundle_file_is_refused_by_name(string file, string code, int exitCode)
    {
        using var root = new TempFolder("openhgs-vm-");
        var (ownerFile, fabricFile) = BundleFolder.Guardians(root);
        string bundle = root["vm1"];
        (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--guardian", fabricFile, "--out", bundle)).Succeeded();
        string path = Path.Combine(bundle, file);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^2] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        Assert.StartsWith($"error: {code}:", (await HgsCli.RunAsync("vm", "show", bundle)).FailedWithOneErrorLine(exitCode), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_creation_leaves_nothing_behind()
    {
        using var root = new TempFolder("openhgs-vm-");
        var (ownerFile, fabricFile) = BundleFolder.Guardians(root);

        Assert.StartsWith("error: VmNameInvalid:", (await HgsCli.RunAsync("vm", "new", "--name", "../evil", "--owner", ownerFile, "--out", root["vm-bad"])).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Directory.CreateDirectory(root["taken"]);
        Assert.Contains("already exists", (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--out", root["taken"])).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.StartsWith("error: Guardian", (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--guardian", ownerFile, "--out", root["vm-x"])).FailedWithOneErrorLine(2), StringComparison.Ordinal);

        Assert.Equal(["fabric.json", "owner.json", "taken"], Directory.EnumerateFileSystemEntries(root.Path).Select(Path.GetFileName).Order());
    }

    /// <summary>swtpm serving a bundle's state on loopback TCP, its key on descriptor 3 as the product passes it.</summary>
    private sealed class RunningVtpm : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly int _port;

        private RunningVtpm(Process process, int port)
        {
            _process = process;
            _port = port;
        }

        public bool Running { get; private set; }

        public string Error { get; private set; } = string.Empty;

        public static async Task<RunningVtpm> StartAsync(string state, byte[] key)
        {
            int port = LoopbackPorts.FreePair();
            var start = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string argument in new[]
            {
                "-c", "exec \"$0\" \"$@\" 3<&0 0</dev/null", "swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state,
                "--key", "fd=3,mode=aes-256-cbc,format=binary", "--server", $"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", $"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear",
            })
            {
                start.ArgumentList.Add(argument);
            }

            var process = Process.Start(start)!;
            await process.StandardInput.BaseStream.WriteAsync(key);
            process.StandardInput.Close();
            var vtpm = new RunningVtpm(process, port);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline && !process.HasExited)
            {
                try
                {
                    using (var probe = new TcpClient())
                    {
                        await probe.ConnectAsync("127.0.0.1", port);
                    }

                    // Listening is not running: swtpm may listen before it has decrypted its state (and exit on a wrong
                    // key a moment later, which once passed for a running vTPM under load). Running means answering.
                    vtpm.Running = vtpm.Answers(out string problem);
                    vtpm.Error = problem;
                    return vtpm;
                }
                catch (SocketException)
                {
                    await Task.Delay(100);
                }
            }

            vtpm.Error = process.HasExited ? await process.StandardError.ReadToEndAsync() : "swtpm did not listen within 20 s";
            return vtpm;
        }

        /// <summary>Whether the vTPM answers a TPM command (TPM2_GetRandom); otherwise why not.</summary>
        private bool Answers(out string problem)
        {
            var (exitCode, _, error) = RunTool("tpm2_getrandom", "--hex", "1");
            problem = exitCode == 0 ? string.Empty : $"tpm2_getrandom exited {exitCode}: {error}";
            return exitCode == 0;
        }

        /// <summary>Runs a tpm2-tools command against this vTPM; returns its stdout (fails the test on a non-zero exit).</summary>
        public string Tool(string tool, params string[] arguments)
        {
            var (exitCode, output, error) = RunTool(tool, arguments);
            Assert.True(exitCode == 0, $"{tool} exited {exitCode}: {error}");
            return output;
        }

        private (int ExitCode, string Output, string Error) RunTool(string tool, params string[] arguments)
        {
            var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.Environment["TPM2TOOLS_TCTI"] = $"swtpm:host=127.0.0.1,port={_port}";
            foreach (string argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, error.Result);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }
    }
}
