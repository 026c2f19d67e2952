using System.Security.Cryptography;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.ShieldedVms;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>
/// How a bundle changes (design change 70), with the real swtpm: grant, revoke and the re-seal commit by one rename of
/// the manifest, so a failure at any step before it leaves the bundle byte for byte as it was with nothing beside it, a
/// crash at any step leaves a bundle that opens as before or as after (never a mix, never a leftover read), and the next
/// change sweeps what a crash left. The failures come from <see cref="BundleCommit.Step"/>, as a real file system does
/// not fail on cue; the crashes are the bundle folder copied at each step. Operations on one bundle exclude each other
/// (<see cref="BundleLock"/>, across processes): a second one is refused with <c>BundleBusy</c> and changes nothing.
/// </summary>
public sealed class VmBundleChangeTests
{
    [Theory]
    [InlineData("key protector written")]
    [InlineData("manifest written")]
    public void A_grant_failing_before_the_manifest_rename_leaves_the_bundle_byte_identical_with_nothing_beside_it(string step)
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        var before = BundleFolder.Snapshot(bundle);

        var failure = Assert.Throws<IOException>(() => FailingAt(step, () => ShieldedVmBundle.Grant(bundle, parties.Owner, parties.Second.Metadata)));
        Assert.Equal("injected at " + step, failure.Message);
        BundleFolder.Identical(before, BundleFolder.Snapshot(bundle));

        // Nothing is held or half-done: the same grant goes through, and only the bundle's files are left.
        Assert.Equal(["fabric", "second"], ShieldedVmBundle.Grant(bundle, parties.Owner, parties.Second.Metadata).Guardians);
        BundleFolder.OnlyBundleEntries(bundle);
    }

    [Theory]
    [InlineData("state written")]
    [InlineData("key protector written")]
    [InlineData("manifest written")]
    public void A_reseal_failing_before_the_manifest_rename_leaves_the_bundle_byte_identical_with_nothing_beside_it(string step)
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        var before = BundleFolder.Snapshot(bundle);

        var failure = Assert.Throws<IOException>(() => FailingAt(step, () => parties.Reseal(bundle)));
        Assert.Equal("injected at " + step, failure.Message);
        BundleFolder.Identical(before, BundleFolder.Snapshot(bundle));

        var resealed = parties.Reseal(bundle);
        Assert.Matches("^vm-[0-9a-f]{16}\\.kp$", resealed.KeyProtector.File);
        Assert.Matches("^vtpm-[0-9a-f]{16}/tpm2-00\\.permall$", resealed.Vtpm.State.File);
        BundleFolder.OnlyBundleEntries(bundle);
    }

    [Fact]
    public void A_crash_at_any_step_leaves_the_bundle_before_or_after_and_the_next_change_sweeps_what_the_crash_left()
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        var before = ShieldedVmBundle.Load(bundle).Manifest;
        var beforeFiles = BundleFolder.Snapshot(bundle);
        var crashes = new List<string>();

        // What is on disk at each step is what a crash there leaves: copied as it is, while the re-seal runs.
        var after = WithStep(
            step =>
            {
                string copy = root["crash at " + step];
                BundleFolder.Copy(bundle, copy);
                crashes.Add(step);
            },
            () => parties.Reseal(bundle));
        Assert.Equal(["state written", "key protector written", "manifest written", "committed"], crashes);

        foreach (string step in crashes)
        {
            string copy = root["crash at " + step];
            var loaded = ShieldedVmBundle.Load(copy);
            if (step == "committed")
            {
                // Renamed in: the new bundle, whose predecessors (vm.kp, vtpm/) are still beside it, named by nothing.
                Assert.Equal(Json(after), Json(loaded.Manifest));
                Assert.Contains("vm.kp", BundleFolder.Entries(copy));
            }
            else
            {
                // Not renamed in: the old bundle, byte for byte; the new state, key protector and manifest beside it are
                // not read (the manifest written beside it names a key protector the bundle's does not).
                Assert.Equal(Json(before), Json(loaded.Manifest));
                Assert.All(beforeFiles, file => Assert.Equal(file.Value, File.ReadAllBytes(Path.Combine(copy, file.Key))));
                Assert.NotEqual(beforeFiles.Keys, BundleFolder.Snapshot(copy).Keys);
            }

            // The next change (under the lock) deletes what the crash left, and only that.
            File.WriteAllText(Path.Combine(copy, "notes.txt"), "the owner's own file");
            ShieldedVmBundle.Grant(copy, parties.Owner, parties.Second.Metadata);
            Assert.Equal(
                [.. new[] { "notes.txt", "vm.json", BundleLock.FileName, ShieldedVmBundle.Load(copy).Manifest.KeyProtector.File, Path.GetDirectoryName(ShieldedVmBundle.Load(copy).Manifest.Vtpm.State.File)! }.Order(StringComparer.Ordinal)],
                BundleFolder.Entries(copy));
        }
    }

    [Fact]
    public void A_failure_after_the_manifest_rename_keeps_the_change_and_leaves_the_predecessor_for_the_next_change()
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);

        // Deleting the old key protector failed: the grant happened all the same, and says so.
        var granted = FailingAt("committed", () => ShieldedVmBundle.Grant(bundle, parties.Owner, parties.Second.Metadata));
        Assert.Equal(Json(granted), Json(ShieldedVmBundle.Load(bundle).Manifest));
        Assert.Equal(["vm-", "vm.json", "vm.kp", BundleLock.FileName, "vtpm"], BundleFolder.Entries(bundle).Select(e => e.StartsWith("vm-", StringComparison.Ordinal) ? "vm-" : e).Order(StringComparer.Ordinal));

        ShieldedVmBundle.Revoke(bundle, parties.Owner, "second");
        BundleFolder.OnlyBundleEntries(bundle);
        Assert.DoesNotContain("vm.kp", BundleFolder.Entries(bundle));
    }

    [Fact]
    public async Task A_reader_without_the_lock_sees_the_bundle_before_or_after_each_change_never_a_missing_key_protector()
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        var changes = Task.Run(() =>
        {
            for (int i = 0; i < 15; i++)
            {
                ShieldedVmBundle.Grant(bundle, parties.Owner, parties.Second.Metadata);
                ShieldedVmBundle.Revoke(bundle, parties.Owner, "second");
            }
        });

        // What 'hgs vm show' does, as often as it can while the key protector is replaced and its predecessor deleted.
        int reads = 0;
        while (!changes.IsCompleted)
        {
            Assert.Equal("vm1", ShieldedVmBundle.Load(bundle).Manifest.Name);
            reads++;
        }

        await changes;
        Assert.True(reads > 30, $"only {reads} reads overlapped the changes");
        BundleFolder.OnlyBundleEntries(bundle);
    }

    [Theory]
    [InlineData("keyProtector.file", "../vm.kp")]
    [InlineData("keyProtector.file", "/etc/vm.kp")]
    [InlineData("keyProtector.file", "vm-0123.kp")]
    [InlineData("keyProtector.file", "vm-0123456789abcdef.kp\n")]
    [InlineData("keyProtector.file", "vm.json")]
    [InlineData("keyProtector.sha256", null)]
    [InlineData("vtpm.state.file", "vtpm-0123456789ABCDEF/tpm2-00.permall")]
    [InlineData("vtpm.state.file", "vtpm/../vtpm/tpm2-00.permall")]
    [InlineData("vtpm.state.file", "vtpm-0123456789abcdef/other.permall")]
    [InlineData("vtpm.state.sha256", null)]
    public async Task A_manifest_naming_any_other_file_or_no_digest_is_malformed(string field, string? value)
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        string manifestFile = Path.Combine(bundle, ShieldedVmManifest.FileName);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllBytes(manifestFile))!;
        string[] path = field.Split('.');
        path[..^1].Aggregate(manifest, (node, name) => node[name]!)[path[^1]] = value;
        File.WriteAllText(manifestFile, manifest.ToJsonString());

        Assert.StartsWith("error: BundleMalformed:", (await HgsCli.RunAsync("vm", "show", bundle)).FailedWithOneErrorLine(2), StringComparison.Ordinal);
    }

    [Fact]
    public void The_next_change_deletes_a_leftover_that_is_a_link_not_what_it_points_to()
    {
        using var root = new TempFolder("openhgs-vmchange-");
        using var parties = new Parties();
        string bundle = parties.NewBundle(root);
        Directory.CreateDirectory(root["elsewhere"]);
        File.WriteAllText(root["elsewhere/keep.txt"], "not the bundle's");
        Directory.CreateSymbolicLink(Path.Combine(bundle, "vtpm-0123456789abcdef"), root["elsewhere"]);
        File.CreateSymbolicLink(Path.Combine(bundle, "vm-0123456789abcdef.kp"), root["elsewhere/keep.txt"]);

        ShieldedVmBundle.Grant(bundle, parties.Owner, parties.Second.Metadata);
        BundleFolder.OnlyBundleEntries(bundle);
        Assert.Equal("not the bundle's", File.ReadAllText(root["elsewhere/keep.txt"]));
    }

    private static string Json(ShieldedVmManifest manifest) => System.Text.Json.JsonSerializer.Serialize(manifest, OpenHgs.Protocol.Wire.WireJson.Default.ShieldedVmManifest);

    private static T FailingAt<T>(string step, Func<T> change) =>
        WithStep(reached => { if (reached == step) { throw new IOException("injected at " + step); } }, change);

    private static T WithStep<T>(Action<string> hook, Func<T> change)
    {
        BundleCommit.Step.Value = hook;
        try
        {
            return change();
        }
        finally
        {
            BundleCommit.Step.Value = null;
        }
    }

    /// <summary>The owner (with keys), the fabric it grants, a second guardian to grant; bundles made in process (swtpm_setup).</summary>
    internal sealed class Parties : IDisposable
    {
        public LocalGuardian Owner { get; } = LocalGuardian.Create("owner", TimeProvider.System);

        public LocalGuardian Fabric { get; } = LocalGuardian.Create("fabric", TimeProvider.System);

        public LocalGuardian Second { get; } = LocalGuardian.Create("second", TimeProvider.System);

        public string NewBundle(TempFolder root)
        {
            string bundle = root["vm1"];
            ShieldedVmBundle.Create(bundle, "vm1", Owner, [Fabric.Metadata], TimeProvider.System);
            return bundle;
        }

        /// <summary>What <c>vm-stop</c> does after a release: under the lock, the state re-sealed under a fresh key and key protector.</summary>
        public ShieldedVmManifest Reseal(string bundle)
        {
            using var held = BundleLock.Acquire(bundle);
            var loaded = ShieldedVmBundle.Load(bundle);
            byte[] transportKey = KeyProtectorBuilder.UnwrapAsOwner(loaded.KeyProtector, Owner);
            byte[] egressKey = RandomNumberGenerator.GetBytes(KeyProtectorVerifier.TransportKeyBytes);
            byte[] egress = KeyProtectorBuilder.Create(Owner, [Fabric.Metadata], egressKey).ToJson();
            return ShieldedVmBundle.Reseal(loaded, transportKey, egress, egressKey);
        }

        public void Dispose()
        {
            Owner.Dispose();
            Fabric.Dispose();
            Second.Dispose();
        }
    }
}
