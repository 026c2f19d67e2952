using System.Diagnostics;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// One operation at a time on a bundle (design change 70): while one holds <c>vm.lock</c>, <c>hgs vm grant</c>/<c>revoke</c>
/// and <c>hgs client vm-start</c>/<c>vm-stop</c> in other processes are refused with <c>BundleBusy</c> (exit 3) and change
/// nothing, <c>hgs vm show</c> still reads; the lock is the kernel's (flock), so a holder that dies holds nothing.
/// </summary>
public sealed class VmBundleLockTests
{
    [Fact]
    public async Task A_second_operation_on_a_bundle_in_use_is_refused_and_changes_nothing_and_a_dead_holder_blocks_nothing()
    {
        using var root = new TempFolder("openhgs-vmlock-");
        using var parties = new VmBundleChangeTests.Parties();
        string bundle = parties.NewBundle(root);
        File.WriteAllText(root["second.json"], parties.Second.Metadata.ToJson());
        File.WriteAllText(root["owner.json"], parties.Owner.ToJson());
        string[] grant = ["vm", "grant", bundle, "--owner", root["owner.json"], "--guardian", root["second.json"]];
        var before = BundleFolder.Snapshot(bundle);

        async Task BusyAsync(params string[] args)
        {
            string error = (await HgsCli.RunAsync(args)).FailedWithOneErrorLine(3);
            Assert.StartsWith($"error: BundleBusy: '{bundle}' is in use by another operation", error, StringComparison.Ordinal);
            BundleFolder.Identical(before, BundleFolder.Snapshot(bundle));
        }

        using (BundleLock.Acquire(bundle))
        {
            // A second holder in this process, and each operation in another process.
            Assert.Equal("BundleBusy", Assert.Throws<ShieldedVmBundleException>(() => BundleLock.Acquire(bundle)).Code);
            await BusyAsync(grant);
            await BusyAsync("vm", "revoke", bundle, "--owner", root["owner.json"], "--guardian", "fabric");
            await BusyAsync("client", "vm-start", "--state", root["host"], "--vm", bundle, "--tcp-port", LoopbackPorts.FreePair().ToString(System.Globalization.CultureInfo.InvariantCulture), "--tcp-open-to-local-users");
            await BusyAsync("client", "vm-stop", "--state", root["host"], "--vm", bundle);
            Assert.False(Directory.Exists(root["host"]));
            (await HgsCli.RunAsync("vm", "show", bundle)).Succeeded();
        }

        // A holder that is not .NET takes the same lock (flock(1)); once it is killed, its lock is gone with it.
        var holder = Process.Start(new ProcessStartInfo("flock", ["--nonblock", Path.Combine(bundle, BundleLock.FileName), "sleep", "120"]) { UseShellExecute = false })!;
        using (holder)
        {
            try
            {
                await HeldAsync(bundle);
                await BusyAsync(grant);
            }
            finally
            {
                holder.Kill(entireProcessTree: true);
                await holder.WaitForExitAsync();
            }
        }

        Assert.Contains("Granted 'second'.", (await HgsCli.RunAsync(grant)).Succeeded().StdOut, StringComparison.Ordinal);
        BundleFolder.OnlyBundleEntries(bundle);
    }

    /// <summary>Waits until another process holds the bundle's lock.</summary>
    private static async Task HeldAsync(string bundle)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                BundleLock.Acquire(bundle).Dispose();
            }
            catch (ShieldedVmBundleException ex) when (ex.Code == "BundleBusy")
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "flock did not take the bundle's lock");
            await Task.Delay(50);
        }
    }
}
