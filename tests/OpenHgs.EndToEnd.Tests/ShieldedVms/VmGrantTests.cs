using OpenHgs.Testing;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// <c>hgs vm grant</c> / <c>hgs vm revoke</c> (design change 68): the owner changes a bundle's key protector and its
/// manifest together, so the bundle stays whole (<c>hgs vm show</c> passes); the transport key and the vTPM state are
/// kept; a granted fabric's key protection service releases the key and a revoked one refuses; every refusal names its
/// reason in one line and leaves the bundle folder byte for byte as it was.
/// </summary>
public sealed class VmGrantTests
{
    [Fact]
    public async Task A_granted_fabric_releases_the_key_and_starts_the_vm_and_once_revoked_and_resealed_it_is_refused()
    {
        using var root = new TempFolder("openhgs-vmgrant-");
        await using var fabric = await VmStartTests.Fabric.StartAsync(root);
        string healthy = await fabric.HostStateAsync("host1", register: true);
        using (var other = LocalGuardian.Create("other fabric", TimeProvider.System))
        {
            File.WriteAllText(root["other.json"], other.Metadata.ToJson());
        }

        // A bundle granted to another fabric only: this fabric's KPS has no wrapping to release.
        string bundle = root["vm1"];
        (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", root["owner.json"], "--guardian", root["other.json"], "--out", bundle)).Succeeded();
        Assert.Contains("NotGrantedToFabric", (await VmStartTests.StartAsync(healthy, bundle, LoopbackPorts.FreePair())).FailedWithOneErrorLine(1), StringComparison.Ordinal);

        // Granted: the manifest names the fabric, and its KPS releases the key that opens the vTPM.
        var granted = (await HgsCli.RunAsync("vm", "grant", bundle, "--owner", root["owner.json"], "--guardian", root["fabric.json"], "--json")).Succeeded().Json();
        Assert.Equal(["other fabric", "OpenHGS fabric"], granted["guardians"]!.AsArray().Select(g => (string)g!));
        Assert.Equal(granted.ToJsonString(), (await HgsCli.RunAsync("vm", "show", bundle, "--json")).Succeeded().Json().ToJsonString());
        int port = LoopbackPorts.FreePair();
        (await VmStartTests.StartAsync(healthy, bundle, port)).Succeeded();
        Assert.Equal(16, Convert.FromHexString(VmStartTests.Tool(port, "tpm2_getrandom", "--hex", "16").Trim()).Length);
        (await HgsCli.RunAsync("client", "vm-stop", "--state", healthy, "--vm", bundle)).Succeeded();

        // Revoked by name, then moved on: the bundle is whole, names the fabric no more, and its KPS refuses it.
        (await HgsCli.RunAsync("vm", "revoke", bundle, "--owner", root["owner.json"], "--guardian", "OpenHGS fabric")).Succeeded();
        var shown = (await HgsCli.RunAsync("vm", "show", bundle, "--json")).Succeeded().Json();
        Assert.Equal(["other fabric"], shown["guardians"]!.AsArray().Select(g => (string)g!));
        Assert.Contains("NotGrantedToFabric", (await VmStartTests.StartAsync(healthy, bundle, LoopbackPorts.FreePair())).FailedWithOneErrorLine(1), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_and_revoke_change_the_key_protector_and_manifest_together_and_keep_the_transport_key_and_vtpm_state()
    {
        using var root = new TempFolder("openhgs-vmgrant-");
        var (ownerFile, fabricFile) = BundleFolder.Guardians(root);
        using var second = LocalGuardian.Create("second", TimeProvider.System);
        File.WriteAllText(root["second.json"], second.Metadata.ToJson());
        string bundle = root["vm1"];
        (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--guardian", fabricFile, "--out", bundle)).Succeeded();
        using var owner = LocalGuardian.Parse(File.ReadAllText(ownerFile));
        byte[] transportKey = KeyProtectorBuilder.UnwrapAsOwner(KeyProtector.Parse(Kp(bundle)), owner);
        byte[] state = State(bundle);

        var granted = await HgsCli.RunAsync("vm", "grant", bundle, "--owner", ownerFile, "--guardian", root["second.json"]);
        Assert.StartsWith("Granted 'second'.", granted.Succeeded().StdOut, StringComparison.Ordinal);
        Assert.Contains("guardians: fabric, second", granted.StdOut, StringComparison.Ordinal);
        Assert.Equal(["fabric", "second"], (await HgsCli.RunAsync("vm", "show", bundle, "--json")).Succeeded().Json()["guardians"]!.AsArray().Select(g => (string)g!));

        // What the new guardian's KPS does on a release: verify the key protector, unwrap with its own key. Same key.
        var protector = KeyProtector.Parse(Kp(bundle));
        KeyProtectorVerifier.VerifySignatures(protector);
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapTransportKey(protector, protector.Wrappings.Single(w => w.GuardianName == "second"), second.EncryptionKey));
        Assert.Equal(state, State(bundle));
        BundleFolder.OnlyBundleEntries(bundle);

        // Revoked by its metadata file: neither the key protector nor the manifest names it; the bundle is whole.
        var revoked = (await HgsCli.RunAsync("vm", "revoke", bundle, "--owner", ownerFile, "--guardian", root["second.json"], "--json")).Succeeded().Json();
        Assert.Equal(["fabric"], revoked["guardians"]!.AsArray().Select(g => (string)g!));
        Assert.Equal(revoked.ToJsonString(), (await HgsCli.RunAsync("vm", "show", bundle, "--json")).Succeeded().Json().ToJsonString());
        protector = KeyProtector.Parse(Kp(bundle));
        Assert.DoesNotContain(protector.Wrappings, w => w.GuardianName == "second");
        Assert.Equal(["fabric", "owner"], protector.Wrappings.Select(w => w.GuardianName).Order());
        // The transport key is kept (revocation takes effect at the next re-seal, docs/key-protector.md §6.1).
        Assert.Equal(transportKey, KeyProtectorBuilder.UnwrapAsOwner(protector, owner));
        Assert.Equal(state, State(bundle));

        // The last fabric guardian may go, as with 'hgs kp revoke': only the owner can open the VM then.
        var last = await HgsCli.RunAsync("vm", "revoke", bundle, "--owner", ownerFile, "--guardian", "fabric");
        Assert.Contains("guardians: (none: only the owner can open it)", last.Succeeded().StdOut, StringComparison.Ordinal);
        Assert.Equal(["owner"], KeyProtector.Parse(Kp(bundle)).Wrappings.Select(w => w.GuardianName));
        (await HgsCli.RunAsync("vm", "show", bundle)).Succeeded();
        BundleFolder.OnlyBundleEntries(bundle);
    }

    [Fact]
    public async Task Every_refusal_names_its_reason_and_leaves_the_bundle_byte_for_byte_as_it_was()
    {
        using var root = new TempFolder("openhgs-vmgrant-");
        var (ownerFile, fabricFile) = BundleFolder.Guardians(root);
        using (var impostor = LocalGuardian.Create("owner", TimeProvider.System))
        {
            File.WriteAllText(root["impostor.json"], impostor.ToJson());
        }

        using (var second = LocalGuardian.Create("second", TimeProvider.System))
        {
            File.WriteAllText(root["second.json"], second.Metadata.ToJson());
        }

        string bundle = root["vm1"];
        (await HgsCli.RunAsync("vm", "new", "--name", "vm1", "--owner", ownerFile, "--guardian", fabricFile, "--out", bundle)).Succeeded();

        async Task RefusedAsync(int exitCode, string expected, params string[] args)
        {
            var before = BundleFolder.Snapshot(bundle);
            string error = (await HgsCli.RunAsync(args)).FailedWithOneErrorLine(exitCode);
            Assert.StartsWith("error: " + expected, error, StringComparison.Ordinal);
            BundleFolder.Identical(before, BundleFolder.Snapshot(bundle));
        }

        // Someone else's keys, even under the owner's name.
        await RefusedAsync(1, "KeyProtectorOwnerKeyMismatch:", "vm", "grant", bundle, "--owner", root["impostor.json"], "--guardian", root["second.json"]);
        await RefusedAsync(1, "KeyProtectorOwnerKeyMismatch:", "vm", "revoke", bundle, "--owner", root["impostor.json"], "--guardian", "fabric");
        // Granted twice; revoking one never granted, or the owner.
        await RefusedAsync(1, "KeyProtectorAlreadyGranted: Guardian 'fabric' already has wrapping", "vm", "grant", bundle, "--owner", ownerFile, "--guardian", fabricFile);
        await RefusedAsync(1, "KeyProtectorNotGrantedToGuardian: The key protector has no wrapping for guardian 'second'.", "vm", "revoke", bundle, "--owner", ownerFile, "--guardian", root["second.json"]);
        await RefusedAsync(1, "KeyProtectorCannotRevokeOwner:", "vm", "revoke", bundle, "--owner", ownerFile, "--guardian", "owner");
        // Missing files: the owner's keys, the guardian's metadata, the bundle.
        await RefusedAsync(2, $"owner guardian '{root["absent.json"]}' does not exist.", "vm", "grant", bundle, "--owner", root["absent.json"], "--guardian", root["second.json"]);
        await RefusedAsync(2, $"guardian metadata '{root["absent.json"]}' does not exist.", "vm", "grant", bundle, "--owner", ownerFile, "--guardian", root["absent.json"]);
        Assert.StartsWith("error: BundleMalformed:", (await HgsCli.RunAsync("vm", "grant", root["no-such-vm"], "--owner", ownerFile, "--guardian", root["second.json"])).FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.False(Directory.Exists(root["no-such-vm"]));

        // A key protector edited behind the manifest's back (what 'hgs kp revoke' on vm.kp would do) stays refused,
        // and stays as it is: nothing re-signs or re-describes it.
        byte[] changed = Kp(bundle);
        changed[^2] ^= 0x01;
        File.WriteAllBytes(Path.Combine(bundle, "vm.kp"), changed);
        await RefusedAsync(1, "KeyProtectorMismatch:", "vm", "grant", bundle, "--owner", ownerFile, "--guardian", root["second.json"]);
        await RefusedAsync(1, "KeyProtectorMismatch:", "vm", "revoke", bundle, "--owner", ownerFile, "--guardian", "fabric");
        changed[^2] ^= 0x01;
        File.WriteAllBytes(Path.Combine(bundle, "vm.kp"), changed);

        // A changed vTPM state is refused before the key protector is touched.
        string statePath = Path.Combine(bundle, "vtpm", "tpm2-00.permall");
        byte[] original = File.ReadAllBytes(statePath);
        byte[] tampered = (byte[])original.Clone();
        tampered[^2] ^= 0x01;
        File.WriteAllBytes(statePath, tampered);
        await RefusedAsync(1, "VtpmStateMismatch:", "vm", "grant", bundle, "--owner", ownerFile, "--guardian", root["second.json"]);
        File.WriteAllBytes(statePath, original);

        // A missing key protector is refused by name.
        File.Move(Path.Combine(bundle, "vm.kp"), root["vm.kp.aside"]);
        byte[] manifestBefore = Manifest(bundle);
        Assert.StartsWith("error: KeyProtectorMismatch:", (await HgsCli.RunAsync("vm", "revoke", bundle, "--owner", ownerFile, "--guardian", "fabric")).FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Equal(manifestBefore, Manifest(bundle));
        Assert.Equal(["vm.json", "vm.lock", "vtpm"], BundleFolder.Entries(bundle));
        File.Move(root["vm.kp.aside"], Path.Combine(bundle, "vm.kp"));

        // After all of that the bundle is the one 'hgs vm new' made, and still grants.
        (await HgsCli.RunAsync("vm", "show", bundle)).Succeeded();
        (await HgsCli.RunAsync("vm", "grant", bundle, "--owner", ownerFile, "--guardian", root["second.json"])).Succeeded();
    }

    private static byte[] Manifest(string bundle) => File.ReadAllBytes(Path.Combine(bundle, "vm.json"));

    private static byte[] Kp(string bundle) => ShieldedVmBundle.Load(bundle).KeyProtectorBytes;

    private static byte[] State(string bundle) => File.ReadAllBytes(Path.Combine(bundle, "vtpm", "tpm2-00.permall"));
}
