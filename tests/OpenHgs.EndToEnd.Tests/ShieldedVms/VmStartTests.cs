using System.Diagnostics;
using System.Globalization;
using OpenHgs.Testing;
using OpenHgs.Client;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// <c>hgs client vm-start</c> / <c>vm-stop</c> (issue 11 §2, §3, §5) against a real service, swtpm and tpm2-tools: a
/// healthy registered host opens the VM's vTPM (the KPS releases the transport key; swtpm runs on the encrypted state)
/// and TPM commands work through it; vm-stop re-seals the state under the egress key and stores the egress key
/// protector; the next start reads the NV index back; the old key no longer opens the state; a host the service does
/// not know gets no key and no vTPM.
/// </summary>
public sealed class VmStartTests
{
    private const string NvIndex = "0x1500016";

    [Fact]
    [Trait("Attack", "A170")]
    public async Task A_vtpm_runs_on_a_healthy_host_is_resealed_at_stop_and_reopens_with_its_nv_contents_an_unknown_host_gets_nothing()
    {
        using var root = new TempFolder("openhgs-vmstart-");
        await using var fabric = await Fabric.StartAsync(root);
        string bundle = await fabric.NewBundleAsync("vm1");
        string healthy = await fabric.HostStateAsync("host1", register: true);
        byte[] firstProtector = File.ReadAllBytes(Path.Combine(bundle, ShieldedVmBundle.KeyProtectorFile));

        // Loopback TCP without the explicit consent: refused before anything is asked of the service or started (A170).
        int port = LoopbackPorts.FreePair();
        var releasesBefore = (await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None)).Count;
        var unconsented = await HgsCli.RunAsync("client", "vm-start", "--state", healthy, "--vm", bundle, "--tcp-port", port.ToString(CultureInfo.InvariantCulture));
        Assert.Contains("every local user can send it commands, reset or stop it", unconsented.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Contains("--tcp-open-to-local-users", unconsented.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(healthy, RunningVtpm.Folder, "vm1.json")));
        Assert.Equal(releasesBefore, (await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None)).Count);
        Assert.Equal(firstProtector, File.ReadAllBytes(Path.Combine(bundle, ShieldedVmBundle.KeyProtectorFile)));

        // The control channel's port (the next one) taken by another program: named as such, nothing left running.
        using (var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port + 1))
        {
            squatter.Start();
            var taken = await StartAsync(healthy, bundle, port);
            Assert.Contains("VtpmChannelInUse", taken.FailedWithOneErrorLine(1), StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(healthy, RunningVtpm.Folder, "vm1.json")));
        }

        var started = (await StartAsync(healthy, bundle, port)).Succeeded().Json();
        int pid = (int)started["pid"]!;
        Assert.True(VtpmEmulator.IsRunning(pid));
        Assert.Equal(16, Convert.FromHexString(Tool(port, "tpm2_getrandom", "--hex", "16").Trim()).Length);
        Assert.Contains("rsa", Tool(port, "tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "rsa", "-c", Path.Combine(root.Path, "primary.ctx")), StringComparison.Ordinal);
        Tool(port, "tpm2_nvdefine", NvIndex, "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite");
        File.WriteAllBytes(root["nv.in"], "shielded"u8.ToArray());
        Tool(port, "tpm2_nvwrite", NvIndex, "-C", "o", "-i", root["nv.in"]);

        // Started twice on one host: refused, the running one untouched.
        var twice = await StartAsync(healthy, bundle, LoopbackPorts.FreePair());
        Assert.Contains("VmAlreadyRunning", twice.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.True(VtpmEmulator.IsRunning(pid));

        var stopped = (await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle, "--json")).Succeeded().Json();
        Assert.False(VtpmEmulator.IsRunning(pid));
        // The egress key protector grants what the released one granted (the fabric), and the manifest says so.
        string[] granted = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(bundle, "vm.json")))!["guardians"]!.AsArray().Select(g => (string)g!).ToArray();
        Assert.Equal(["OpenHGS fabric"], granted);
        Assert.Equal(granted, stopped["guardians"]!.AsArray().Select(g => (string)g!));

        // Re-sealed: a new key protector (the egress one) is in the bundle, and the old transport key, which the
        // owner can still unwrap from the old key protector, no longer opens the state: swtpm refuses, nothing runs.
        byte[] secondProtector = ShieldedVmBundle.Load(bundle).KeyProtectorBytes;
        Assert.NotEqual(firstProtector, secondProtector);
        (await HgsCli.RunAsync("vm", "show", bundle)).Succeeded();
        byte[] oldKey = fabric.UnwrapAsOwner(firstProtector);
        var wrongKey = Assert.Throws<VtpmException>(() => VtpmEmulator.Start(ShieldedVmBundle.Load(bundle).StateDirectory, oldKey, new VtpmChannel(null, LoopbackPorts.FreePair()), root["wrong.pid"]));
        Assert.Equal("VtpmStateRefused", wrongKey.Code);
        Assert.Contains("HMAC", wrongKey.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(root["wrong.pid"]));

        // Started again (the KPS releases the egress key protector): the NV index is read back from the re-sealed state.
        port = LoopbackPorts.FreePair();
        pid = (int)(await StartAsync(healthy, bundle, port)).Succeeded().Json()["pid"]!;
        Tool(port, "tpm2_nvread", NvIndex, "-C", "o", "-s", "8", "-o", root["nv.out"]);
        Assert.Equal("shielded"u8.ToArray(), File.ReadAllBytes(root["nv.out"]));
        (await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle)).Succeeded();
        Assert.False(VtpmEmulator.IsRunning(pid));

        // A host the service does not know: refused attestation, no key, no swtpm, no record, bundle unchanged.
        string unknown = await fabric.HostStateAsync("intruder", register: false);
        byte[] before = File.ReadAllBytes(Path.Combine(bundle, "vm.json"));
        var refused = await HgsCli.RunAsync("client", "vm-start", "--state", unknown, "--vm", bundle, "--socket", root["intruder.sock"]);
        Assert.Contains("HostKeyNotRegistered", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.False(File.Exists(root["intruder.sock"]));
        Assert.False(Directory.Exists(Path.Combine(unknown, RunningVtpm.Folder)) && Directory.EnumerateFileSystemEntries(Path.Combine(unknown, RunningVtpm.Folder)).Any());
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(bundle, "vm.json")));

        // Five releases to host1 (the start refused for its port, start, stop, start, stop), none to the intruder.
        var releases = await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None);
        Assert.Equal(5, releases.Count(r => r.Outcome == "success" && r.Subject == "host1"));
        Assert.DoesNotContain(releases, r => r.Outcome == "success" && r.Subject == "intruder");
    }

    [Fact]
    public async Task Exported_state_is_encrypted_the_qemu_control_socket_serves_the_vtpm_and_a_tampered_state_or_key_protector_is_refused()
    {
        using var root = new TempFolder("openhgs-vmsock-");
        await using var fabric = await Fabric.StartAsync(root);
        string bundle = await fabric.NewBundleAsync("vm2");
        string healthy = await fabric.HostStateAsync("host2", register: true);

        // What the control channel exports (QEMU's migration, swtpm_ioctl --save) is encrypted too: no 16-byte run of
        // the vTPM's EK modulus, which the clear state carries, appears in the exported permanent state.
        int port = LoopbackPorts.FreePair();
        (await StartAsync(healthy, bundle, port)).Succeeded();
        Tool(port, "tpm2_readpublic", "-c", "0x81010001", "-f", "der", "-o", root["ek.der"]);
        using (var rsa = System.Security.Cryptography.RSA.Create())
        {
            rsa.ImportSubjectPublicKeyInfo(File.ReadAllBytes(root["ek.der"]), out _);
            byte[] modulus = rsa.ExportParameters(false).Modulus!;
            Run("swtpm_ioctl", ["--tcp", $"127.0.0.1:{port + 1}", "--save", "permanent", root["exported.blob"]], environment: null);
            byte[] exported = File.ReadAllBytes(root["exported.blob"]);
            Assert.True(exported.Length > modulus.Length);
            for (int i = 0; i + 16 <= modulus.Length; i += 16)
            {
                Assert.Equal(-1, exported.AsSpan().IndexOf(modulus.AsSpan(i, 16)));
            }
        }

        (await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle)).Succeeded();

        // The unix control socket QEMU and libvirt use: 0600, and it answers the control protocol (capabilities).
        string socket = root["vm2.sock"];
        int pid = (int)(await HgsCli.RunAsync("client", "vm-start", "--state", healthy, "--vm", bundle, "--socket", socket, "--json")).Succeeded().Json()["pid"]!;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket) & (UnixFileMode)0x1FF);
        Assert.StartsWith("ptm capability is 0x", Run("swtpm_ioctl", ["--unix", socket, "-c"], environment: null), StringComparison.Ordinal);
        (await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle)).Succeeded();
        Assert.False(VtpmEmulator.IsRunning(pid));
        Assert.False(File.Exists(socket));

        // One byte of the stopped state changed: refused by digest before anything is released.
        var releasesBefore = (await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None)).Count;
        string stateFile = Path.Combine(ShieldedVmBundle.Load(bundle).StateDirectory, VtpmEmulator.StateFile);
        byte[] state = File.ReadAllBytes(stateFile);
        state[state.Length / 2] ^= 0x01;
        File.WriteAllBytes(stateFile, state);
        var tampered = await HgsCli.RunAsync("client", "vm-start", "--state", healthy, "--vm", bundle, "--socket", socket);
        Assert.Contains("VtpmStateMismatch", tampered.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.False(File.Exists(socket));
        Assert.Equal(releasesBefore, (await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None)).Count);
        state[state.Length / 2] ^= 0x01;
        File.WriteAllBytes(stateFile, state);

        // The manifest is not signed, so someone who can write the bundle can also recompute its digests: a key
        // protector whose payload was changed, with a matching manifest, gets past the bundle check and is refused by
        // the key protection service's signature check. No key, no swtpm; the refusal is audited.
        string protectorFile = ShieldedVmBundle.Load(bundle).KeyProtectorPath;
        byte[] goodProtector = File.ReadAllBytes(protectorFile);
        var protectorJson = System.Text.Json.Nodes.JsonNode.Parse(goodProtector)!;
        // Same wrappings, one more space: the structure parses, but the signed bytes are not the signed bytes.
        byte[] payload = System.Buffers.Text.Base64Url.DecodeFromChars((string)protectorJson["payload"]!);
        protectorJson["payload"] = System.Buffers.Text.Base64Url.EncodeToString([(byte)'{', (byte)' ', .. payload.AsSpan(1)]);
        byte[] forgedProtector = System.Text.Encoding.UTF8.GetBytes(protectorJson.ToJsonString());
        File.WriteAllBytes(protectorFile, forgedProtector);
        string manifestFile = Path.Combine(bundle, "vm.json");
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllBytes(manifestFile))!;
        manifest["keyProtector"]!["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(forgedProtector));
        File.WriteAllText(manifestFile, manifest.ToJsonString());
        (await HgsCli.RunAsync("vm", "show", bundle)).Succeeded();
        var forged = await HgsCli.RunAsync("client", "vm-start", "--state", healthy, "--vm", bundle, "--socket", socket);
        Assert.Contains("GuardianSignatureInvalid", forged.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.False(File.Exists(socket));
        var afterForgery = await fabric.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None);
        Assert.Equal(releasesBefore, afterForgery.Count(r => r.Outcome == "success"));
        Assert.Contains(afterForgery, r => r.Outcome != "success" && r.Subject == "host2");

        // vm-stop for a VM that does not run here names the reason.
        var notRunning = await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle);
        Assert.Contains("VmNotRunning", notRunning.FailedWithOneErrorLine(1), StringComparison.Ordinal);
    }

    internal static Task<CliResult> StartAsync(string state, string bundle, int port) =>
        HgsCli.RunAsync("client", "vm-start", "--state", state, "--vm", bundle, "--tcp-port", port.ToString(CultureInfo.InvariantCulture), "--tcp-open-to-local-users", "--json");

    internal static string Tool(int port, string tool, params string[] arguments) =>
        Run(tool, arguments, new Dictionary<string, string> { ["TPM2TOOLS_TCTI"] = $"swtpm:host=127.0.0.1,port={port}" });

    internal static string Run(string tool, string[] arguments, Dictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {error.Result}");
        return output;
    }

    /// <summary>A service with the software key store, an owner guardian and the fabric's guardian.</summary>
    internal sealed class Fabric : IAsyncDisposable
    {
        private readonly TempFolder _root;
        private readonly ServerProcess _server;

        private Fabric(TempFolder root, ServerProcess server, AdminClient admin)
        {
            _root = root;
            _server = server;
            Admin = admin;
        }

        public AdminClient Admin { get; }

        public static async Task<Fabric> StartAsync(TempFolder root)
        {
            string data = root["service"];
            (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
            var server = await ServerProcess.StartAsync(data);
            var admin = new AdminClient([server.Url], File.ReadAllText(Path.Combine(data, "admin.token")).Trim());
            File.WriteAllText(root["fabric.json"], await admin.ExportGuardianAsync(CancellationToken.None));
            using (var owner = LocalGuardian.Create("owner", TimeProvider.System))
            {
                File.WriteAllText(root["owner.json"], owner.ToJson());
            }

            return new Fabric(root, server, admin);
        }

        public async Task<string> NewBundleAsync(string name)
        {
            string bundle = _root[name];
            (await HgsCli.RunAsync("vm", "new", "--name", name, "--owner", _root["owner.json"], "--guardian", _root["fabric.json"], "--out", bundle)).Succeeded();
            return bundle;
        }

        public async Task<string> HostStateAsync(string name, bool register)
        {
            string keys = _root["keys-" + name];
            Directory.CreateDirectory(keys);
            string publicKey = File.ReadAllText(HostKeyPair.Generate(keys));
            if (register)
            {
                await Admin.AddHostKeyAsync(name, publicKey, CancellationToken.None);
            }

            string state = _root["state-" + name];
            new ClientConfiguration([_server.Url], [_server.Url], keys).Save(state);
            return state;
        }

        public byte[] UnwrapAsOwner(byte[] protector)
        {
            using var owner = LocalGuardian.Parse(File.ReadAllText(_root["owner.json"]));
            return KeyProtectorBuilder.UnwrapAsOwner(KeyProtector.Parse(protector), owner);
        }

        public async ValueTask DisposeAsync()
        {
            Admin.Dispose();
            await _server.DisposeAsync();
        }
    }
}
