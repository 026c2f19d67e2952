using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenHgs.Protocol.ShieldedVms;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>
/// How a bundle changes (design change 70): new files are written under names no manifest uses yet (a key protector
/// <c>vm-GEN.kp</c>, a state folder <c>vtpm-GEN/</c>, GEN 16 random hex digits) and flushed; then one rename of a
/// flushed <c>vm.json.new-*</c> over <c>vm.json</c> commits the change, as the manifest names which files are the
/// bundle's. Before that rename the bundle is the old one; after it, the new one. What the manifest does not name is
/// not part of the bundle: the predecessors are deleted after the rename, and whatever a crash left (files of a change
/// not committed, predecessors not yet deleted) is deleted by the next change (<see cref="Sweep"/>). A leftover is
/// never read, let alone trusted.
/// </summary>
internal static partial class BundleCommit
{
    /// <summary>
    /// Test seam: called with each step's name (<c>state written</c>, <c>key protector written</c>, <c>manifest
    /// written</c>, <c>committed</c>) as the change reaches it; a throw there is a failure at that point. Flows with
    /// the caller (one test's hook is not another's).
    /// </summary>
    internal static readonly AsyncLocal<Action<string>?> Step = new();

    /// <summary>A name for a new key protector file.</summary>
    public static string NewKeyProtectorFile() => "vm-" + Generation() + ".kp";

    /// <summary>A name for a new vTPM state folder.</summary>
    public static string NewStateFolder() => ShieldedVmBundle.VtpmFolder + "-" + Generation();

    /// <summary>Writes a new file and flushes it to disk, so a rename of it that survives a crash names its content.</summary>
    public static void WriteDurably(string path, byte[] content)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write(content);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Flushes a file another program wrote (swtpm's state) to disk, so a manifest renamed in after it names its content.</summary>
    public static void FlushToDisk(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        file.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Commits <paramref name="manifest"/> over <paramref name="bundle"/>'s: the files it names that are not the old
    /// manifest's (<paramref name="written"/>, in the bundle folder, already written and flushed) become the bundle's by
    /// one rename. A failure before the rename deletes them and the manifest's temporary file, so the bundle is as it
    /// was and nothing is left beside it; after the rename, the old manifest's files that the new one does not name are
    /// deleted, and a failure there only leaves them for the next change to sweep.
    /// </summary>
    public static void Commit(LoadedBundle bundle, ShieldedVmManifest manifest, IReadOnlyList<string> written)
    {
        string manifestPath = Path.Combine(bundle.Directory, ShieldedVmManifest.FileName);
        string temporary = manifestPath + ".new-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            Reach("manifest written", () => WriteDurably(temporary, JsonSerializer.SerializeToUtf8Bytes(manifest, WireJson.Default.ShieldedVmManifest)));
            File.Move(temporary, manifestPath, overwrite: true);
        }
        catch
        {
            Discard(bundle, [.. written, Path.GetFileName(temporary)]);
            throw;
        }

        try
        {
            Reach("committed", () => { });
            foreach (string entry in Named(bundle.Manifest).Except(Named(manifest), StringComparer.Ordinal))
            {
                Delete(Path.Combine(bundle.Directory, entry));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Committed: the bundle is the new one. What is left is named by no manifest and swept by the next change.
        }
    }

    /// <summary>Deletes the files of a change that was not committed (names the bundle's manifest does not use).</summary>
    public static void Discard(LoadedBundle bundle, params string[] written)
    {
        foreach (string entry in written)
        {
            Delete(Path.Combine(bundle.Directory, entry));
        }
    }

    /// <summary>Runs <paramref name="action"/> and then the test seam for step <paramref name="step"/>.</summary>
    public static void Reach(string step, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        action();
        Step.Value?.Invoke(step);
    }

    /// <summary>
    /// Deletes from the bundle folder what a bundle change of this release or an earlier one writes (by the names it
    /// gives them) that <paramref name="bundle"/>'s manifest does not name: leftovers of a change a crash interrupted.
    /// Called under <see cref="BundleLock"/> only, so no change is under way. Nothing else in the folder is touched.
    /// </summary>
    public static void Sweep(LoadedBundle bundle)
    {
        var named = Named(bundle.Manifest).ToHashSet(StringComparer.Ordinal);
        foreach (string entry in Directory.EnumerateFileSystemEntries(bundle.Directory).Select(Path.GetFileName).OfType<string>())
        {
            if (!named.Contains(entry) && Leftover().IsMatch(entry))
            {
                Delete(Path.Combine(bundle.Directory, entry));
            }
        }
    }

    /// <summary>The entries of the bundle folder a manifest names: its key protector file and its state folder.</summary>
    private static IEnumerable<string> Named(ShieldedVmManifest manifest) =>
        [manifest.KeyProtector.File, Path.GetDirectoryName(manifest.Vtpm.State.File)!];

    /// <summary>Deletes a file, a folder with its content, or a symbolic link (not what it points to); absent is fine.</summary>
    private static void Delete(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || info.Exists)
        {
            info.Delete();
        }
        else if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private static string Generation() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>
    /// Names bundle changes give files: key protectors and state folders (<c>vm.kp</c>, <c>vm-GEN.kp</c>, <c>vtpm</c>,
    /// <c>vtpm-GEN</c>), this release's manifest temporaries, and the temporaries of design change 68's two-rename
    /// writes and of the earlier re-seal (<c>vm.kp.new-*</c>, <c>vm.kp.previous-*</c>, <c>vtpm.resealing-*</c>,
    /// <c>vtpm.previous-*</c>).
    /// </summary>
    [GeneratedRegex(@"^(vm\.kp|vm-[0-9a-f]{16}\.kp|vtpm|vtpm-[0-9a-f]{16}|vm\.json\.new-[0-9a-f]{8}|vm\.kp\.(new|previous)-[0-9a-f]{8}|vtpm\.(resealing|previous)-[0-9a-f]{8})\z", RegexOptions.CultureInvariant)]
    private static partial Regex Leftover();
}
