using OpenHgs.Testing;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.EndToEnd.Tests.Tpm;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// Issue 11 §4 in TPM mode: a shielded VM's bundle, re-sealed on one guarded host, moves to another healthy host
/// (its own swtpm as the host TPM, the same baseline) and opens there with its vTPM contents; on a host that fails
/// attestation (Secure Boot off, <c>Hgs_SecureBootEnabled</c>) it gets no key and no vTPM, and the bundle is unchanged.
/// </summary>
public sealed class VmMigrationTests
{
    private const string NvIndex = "0x1500017";

    [Fact]
    public async Task A_bundle_moves_to_another_healthy_tpm_host_and_is_refused_on_an_unhealthy_one()
    {
        await using var scenario = await TpmScenario.StartAsync();
        await scenario.AddBaselineAsync("Rhel8GCE");
        var hostA = await scenario.EnrolAsync("host-a");
        var tpmB = scenario.AnotherTpm();
        await scenario.RegisterRootsOfAsync(tpmB);
        var hostB = await scenario.EnrolAsync("host-b", tpm: tpmB);
        var tpmC = scenario.AnotherTpm("Ubuntu2104NoSecureBootGCE");
        await scenario.RegisterRootsOfAsync(tpmC);
        var hostC = await scenario.EnrolAsync("host-c", "Ubuntu2104NoSecureBootGCE", tpm: tpmC);

        using var root = new TempFolder("openhgs-vmmove-");
        File.WriteAllText(root["fabric.json"], await scenario.Service.Admin.ExportGuardianAsync(CancellationToken.None));
        using (var owner = LocalGuardian.Create("owner", TimeProvider.System))
        {
            File.WriteAllText(root["owner.json"], owner.ToJson());
        }

        string onA = root["a/vm1"];
        Directory.CreateDirectory(root["a"]);
        (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", root["owner.json"], "--guardian", root["fabric.json"], "--out", onA)).Succeeded();

        int port = LoopbackPorts.FreePair();
        (await VmStartTests.StartAsync(hostA.StateDirectory, onA, port)).Succeeded();
        VmStartTests.Tool(port, "tpm2_nvdefine", NvIndex, "-C", "o", "-s", "9", "-a", "ownerread|ownerwrite");
        File.WriteAllBytes(root["nv.in"], "migrated!"u8.ToArray());
        VmStartTests.Tool(port, "tpm2_nvwrite", NvIndex, "-C", "o", "-i", root["nv.in"]);
        (await HgsCli.RunAsync("client", "vm-stop", "--state", hostA.StateDirectory, "--vm", onA)).Succeeded();

        // Moved (copied, as to shared storage) to host B: it attests with its own TPM and opens the vTPM.
        string onB = root["b/vm1"];
        CopyFolder(onA, onB);
        port = LoopbackPorts.FreePair();
        (await VmStartTests.StartAsync(hostB.StateDirectory, onB, port)).Succeeded();
        VmStartTests.Tool(port, "tpm2_nvread", NvIndex, "-C", "o", "-s", "9", "-o", root["nv.out"]);
        Assert.Equal("migrated!"u8.ToArray(), File.ReadAllBytes(root["nv.out"]));
        (await HgsCli.RunAsync("client", "vm-stop", "--state", hostB.StateDirectory, "--vm", onB)).Succeeded();

        // Moved on to host C, whose firmware booted without Secure Boot: refused by the policy, nothing runs.
        string onC = root["c/vm1"];
        CopyFolder(onB, onC);
        byte[] manifest = File.ReadAllBytes(Path.Combine(onC, "vm.json"));
        var refused = await VmStartTests.StartAsync(hostC.StateDirectory, onC, LoopbackPorts.FreePair());
        Assert.Contains("Hgs_SecureBootEnabled", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Null(RunningVtpm.Find(hostC.StateDirectory, "vm1"));
        Assert.Equal(manifest, File.ReadAllBytes(Path.Combine(onC, "vm.json")));
        var releases = await scenario.Service.Admin.QueryAuditAsync(100, null, "keyprotection.release", null, null, null, CancellationToken.None);
        Assert.Equal([2, 2, 0], new[] { "host-a", "host-b", "host-c" }.Select(h => releases.Count(r => r.Outcome == "success" && r.Subject == h)));
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
