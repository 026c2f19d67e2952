using OpenHgs.Client.ShieldedVms;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.EndToEnd.Tests.ShieldedVms;

/// <summary>What the shielded VM tests look at in a bundle folder: every file with its bytes, and what belongs in it.</summary>
internal static class BundleFolder
{
    /// <summary>
    /// Every file under <paramref name="bundle"/> (relative path, sorted) with its bytes: two equal snapshots are a
    /// byte-identical bundle. <c>vm.lock</c> is empty and may be held (.NET refuses to open it then, as its lock is
    /// flock's): its length stands for its bytes.
    /// </summary>
    public static SortedDictionary<string, byte[]> Snapshot(string bundle) =>
        new(Directory.EnumerateFiles(bundle, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(bundle, f), Read), StringComparer.Ordinal);

    /// <summary>Asserts the two snapshots hold the same files with the same bytes, naming the first file that differs.</summary>
    public static void Identical(SortedDictionary<string, byte[]> expected, SortedDictionary<string, byte[]> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (file, bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(actual[file]), $"{file} changed");
        }
    }

    /// <summary>The folder's entries, sorted.</summary>
    public static string[] Entries(string bundle) =>
        [.. Directory.EnumerateFileSystemEntries(bundle).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    /// <summary>Asserts the folder holds the bundle's entries only (manifest, lock, the key protector and state folder it names): nothing a change left beside them.</summary>
    public static void OnlyBundleEntries(string bundle)
    {
        var manifest = ShieldedVmBundle.Load(bundle).Manifest;
        string[] expected = [ "vm.json", BundleLock.FileName, manifest.KeyProtector.File, Path.GetDirectoryName(manifest.Vtpm.State.File)! ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Entries(bundle));
    }

    /// <summary>Copies a folder tree, as a crash would leave it on disk at this moment.</summary>
    public static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from))
        {
            File.WriteAllBytes(Path.Combine(to, Path.GetFileName(file)), Read(file));
        }

        foreach (string folder in Directory.EnumerateDirectories(from))
        {
            Copy(folder, Path.Combine(to, Path.GetFileName(folder)));
        }
    }

    private static byte[] Read(string file) =>
        Path.GetFileName(file) == BundleLock.FileName ? new byte[new FileInfo(file).Length] : File.ReadAllBytes(file);

    /// <summary>An owner (<c>owner.json</c>, with its keys) and a fabric's guardian metadata (<c>fabric.json</c>) in <paramref name="root"/>.</summary>
    public static (string Owner, string Fabric) Guardians(TempFolder root)
    {
        using var owner = LocalGuardian.Create("owner", TimeProvider.System);
        using var fabric = LocalGuardian.Create("fabric", TimeProvider.System);
        File.WriteAllText(root["owner.json"], owner.ToJson());
        File.WriteAllText(root["fabric.json"], fabric.Metadata.ToJson());
        return (root["owner.json"], root["fabric.json"]);
    }
}
