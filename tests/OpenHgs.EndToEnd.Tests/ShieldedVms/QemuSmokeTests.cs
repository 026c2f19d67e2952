using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using OpenHgs.Testing;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// Issue 11 §5, the QEMU smoke test: a shielded VM's UEFI firmware (OVMF, emulated by QEMU without KVM) boots against
/// the vTPM that <c>hgs client vm-start</c> opened on its unix control socket, and measures into it. The PCRs live in
/// the vTPM's volatile state, so the test exports it (encrypted under the transport key, swtpm's migration key) while
/// QEMU is gone but swtpm still runs, and reads PCRs 0-7 from a copy the owner opens with the unwrapped key.
/// </summary>
public sealed class QemuSmokeTests
{
    private const string Qemu = "/usr/bin/qemu-system-x86_64";
    private const string Firmware = "/usr/share/ovmf/OVMF.fd";
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task Uefi_firmware_booting_against_the_vtpm_socket_measures_into_pcrs_0_to_7()
    {
        using var root = new TempFolder("openhgs-qemu-");
        await using var fabric = await VmStartTests.Fabric.StartAsync(root);
        string bundle = await fabric.NewBundleAsync("vm-qemu");
        string host = await fabric.HostStateAsync("host-qemu", register: true);
        byte[] protector = File.ReadAllBytes(Path.Combine(bundle, ShieldedVmBundle.KeyProtectorFile));

        string socket = root["vtpm.sock"];
        int pid = (int)(await HgsCli.RunAsync("client", "vm-start", "--state", host, "--vm", bundle, "--socket", socket, "--json")).Succeeded().Json()["pid"]!;
        string serial = root["serial.log"];
        using (var qemu = StartQemu(socket, serial))
        {
            try
            {
                // OVMF's boot manager runs after the firmware measured PCRs 0-7 (its separators included).
                await WaitForAsync(() => File.Exists(serial) && File.ReadAllText(serial).Contains("BdsDxe", StringComparison.Ordinal), qemu, serial);
            }
            finally
            {
                // Killed, not shut down: a clean QEMU exit shuts swtpm down with it (as libvirt expects), and the PCRs with it.
                qemu.Kill(entireProcessTree: true);
                await qemu.WaitForExitAsync();
            }
        }

        Assert.True(VtpmEmulator.IsRunning(pid));
        VmStartTests.Run("swtpm_ioctl", ["--unix", socket, "--save", "volatile", root["volatile.blob"]], environment: null);
        VmStartTests.Run("swtpm_ioctl", ["--unix", socket, "--save", "permanent", root["permanent.blob"]], environment: null);
        (await HgsCli.RunAsync("client", "vm-stop", "--state", host, "--vm", bundle)).Succeeded();
        Assert.False(VtpmEmulator.IsRunning(pid));

        var pcrs = ReadPcrs(root, fabric.UnwrapAsOwner(protector));
        byte[] separatorOnly = SHA256.HashData([.. new byte[32], .. SHA256.HashData(new byte[4])]);
        Assert.All(Enumerable.Range(0, 8), i => Assert.NotEqual(new byte[32], pcrs[i]));
        Assert.NotEqual(separatorOnly, pcrs[0]); // the firmware's own code
        Assert.NotEqual(separatorOnly, pcrs[7]); // the Secure Boot configuration
        Assert.Equal(separatorOnly, pcrs[2]);    // no option ROMs: only the separator was extended
    }

    private static Process StartQemu(string socket, string serial)
    {
        var start = new ProcessStartInfo(Qemu) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[]
        {
            "-machine", "q35", "-accel", "tcg", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot",
            "-bios", Firmware, "-serial", "file:" + serial, "-monitor", "none",
            "-chardev", $"socket,id=chrtpm,path={socket}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) => Console.Error.WriteLine("qemu: " + e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitForAsync(Func<bool> booted, Process qemu, string serial)
    {
        var deadline = DateTime.UtcNow + BootTimeout;
        while (!booted())
        {
            if (qemu.HasExited)
            {
                Assert.Fail($"QEMU exited ({qemu.ExitCode}) before the firmware's boot manager ran");
            }

            Assert.True(DateTime.UtcNow < deadline, $"the firmware did not reach its boot manager within {BootTimeout.TotalSeconds} s: {(File.Exists(serial) ? File.ReadAllText(serial) : "no serial output")}");
            await Task.Delay(250);
        }
    }

    /// <summary>Opens the exported state (the owner's copy of the transport key) in a fresh swtpm and reads PCRs 0-7 (SHA-256).</summary>
    private static byte[][] ReadPcrs(TempFolder root, byte[] transportKey)
    {
        string keyFile = root["owner-copy.key"];
        File.WriteAllBytes(keyFile, transportKey);
        string state = root["check"];
        Directory.CreateDirectory(state);
        int port = LoopbackPorts.FreePair();
        string key = $"file={keyFile},mode={VtpmEmulator.Cipher},format=binary";
        VmStartTests.Run("swtpm", ["socket", "--tpm2", "--tpmstate", "dir=" + state, "--key", key, "--migration-key", key,
            "--server", $"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl", $"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--daemon"], environment: null);
        string control = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port + 1}");
        try
        {
            VmStartTests.Run("swtpm_ioctl", ["--tcp", control, "--load", "permanent", root["permanent.blob"]], environment: null);
            VmStartTests.Run("swtpm_ioctl", ["--tcp", control, "--load", "volatile", root["volatile.blob"]], environment: null);
            VmStartTests.Run("swtpm_ioctl", ["--tcp", control, "-i"], environment: null);
            string output = VmStartTests.Tool(port, "tpm2_pcrread", "sha256:0,1,2,3,4,5,6,7");
            return output.Split('\n')
                .Select(line => line.Trim())
                .Where(line => line.Contains(": 0x", StringComparison.Ordinal))
                .Select(line => Convert.FromHexString(line[(line.IndexOf("0x", StringComparison.Ordinal) + 2)..]))
                .ToArray() is { Length: 8 } values ? values : throw new Xunit.Sdk.XunitException("tpm2_pcrread: " + output);
        }
        finally
        {
            VmStartTests.Run("swtpm_ioctl", ["--tcp", control, "-s"], environment: null);
        }
    }
}
