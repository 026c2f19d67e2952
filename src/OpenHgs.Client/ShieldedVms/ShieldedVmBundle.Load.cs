using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.ShieldedVms;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>Reading a bundle: the manifest, and the key protector and state it names, checked by their digests.</summary>
public static partial class ShieldedVmBundle
{
    /// <summary>
    /// Reads a bundle and checks that its key protector and vTPM state are the ones its manifest names (SHA-256); with
    /// <paramref name="stateWrittenSinceStart"/> (a vTPM this host ran has written the state since) only that the state
    /// file is there. Throws <see cref="ShieldedVmBundleException"/>: <c>BundleMalformed</c>, <c>KeyProtectorMismatch</c>,
    /// <c>VtpmStateMismatch</c>. Takes no lock: a change committed while it reads (the manifest replaced, its
    /// predecessors deleted) is read again, from the new manifest.
    /// </summary>
    public static LoadedBundle Load(string directory, bool stateWrittenSinceStart = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        for (int attempt = 1; ; attempt++)
        {
            byte[] manifestBytes = ReadManifest(directory);
            try
            {
                return Load(directory, manifestBytes, stateWrittenSinceStart);
            }
            catch (ShieldedVmBundleException ex) when (attempt < 3 && ex.Code is "KeyProtectorMismatch" or "VtpmStateMismatch" && ManifestChanged(directory, manifestBytes))
            {
                // A change was committed while this read: read the bundle it made.
            }
        }
    }

    /// <summary>The refusal for a folder with no manifest: not a bundle.</summary>
    internal static ShieldedVmBundleException NoManifest(string directory) =>
        new("BundleMalformed", $"'{directory}' is not a shielded VM bundle: {ShieldedVmManifest.FileName} is missing or larger than {MaxManifestBytes} bytes.");

    private static byte[] ReadManifest(string directory)
    {
        try
        {
            var info = new FileInfo(Path.Combine(directory, ShieldedVmManifest.FileName));
            return info.Exists && info.Length <= MaxManifestBytes ? File.ReadAllBytes(info.FullName) : throw NoManifest(directory);
        }
        catch (FileNotFoundException)
        {
            throw NoManifest(directory);
        }
    }

    private static bool ManifestChanged(string directory, byte[] read)
    {
        try
        {
            return !read.AsSpan().SequenceEqual(ReadManifest(directory));
        }
        catch (ShieldedVmBundleException)
        {
            return false;
        }
    }

    private static LoadedBundle Load(string directory, byte[] manifestBytes, bool stateWrittenSinceStart)
    {
        string manifestPath = Path.Combine(directory, ShieldedVmManifest.FileName);
        ShieldedVmManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(manifestBytes, WireJson.Default.ShieldedVmManifest)
                ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"{manifestPath} is not a shielded VM manifest: {ex.Message.Split('.')[0]}.");
        }

        if (manifest.Kind != ShieldedVmManifest.FileKind || manifest.Version != 1 || !IsValidName(manifest.Name) || manifest.KeyProtector?.File is null || manifest.Vtpm?.State?.File is null
            || manifest.KeyProtector.Sha256 is null || manifest.Vtpm.State.Sha256 is null
            || !KeyProtectorName().IsMatch(manifest.KeyProtector.File) || !StateName().IsMatch(manifest.Vtpm.State.File)
            || manifest.Vtpm.Emulator != VtpmEmulator.Emulator || manifest.Vtpm.Cipher != VtpmEmulator.Cipher)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"{manifestPath} is not a version 1 {ShieldedVmManifest.FileKind} manifest of this release (kind, version, file names or digests, emulator or cipher differ).");
        }

        byte[] protectorBytes = ReadChecked(directory, manifest.KeyProtector, "KeyProtectorMismatch", KeyProtector.MaxBytes);
        if (!stateWrittenSinceStart)
        {
            ReadChecked(directory, manifest.Vtpm.State, "VtpmStateMismatch", MaxStateBytes);
        }
        else if (!File.Exists(Path.Combine(directory, manifest.Vtpm.State.File)))
        {
            throw new ShieldedVmBundleException("VtpmStateMismatch", $"{Path.Combine(directory, manifest.Vtpm.State.File)} is missing.");
        }

        try
        {
            return new LoadedBundle(Path.GetFullPath(directory), manifest, KeyProtector.Parse(protectorBytes), protectorBytes);
        }
        catch (KeyProtectorException ex)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"{Path.Combine(directory, manifest.KeyProtector.File)} is not a key protector: {ex.Message}");
        }
    }

    /// <summary>The key protector files a manifest may name: <c>vm.kp</c> (as created) or <c>vm-GEN.kp</c> (as changed).</summary>
    [GeneratedRegex(@"^vm(-[0-9a-f]{16})?\.kp\z", RegexOptions.CultureInvariant)]
    private static partial Regex KeyProtectorName();

    /// <summary>The state files a manifest may name: swtpm's file in <c>vtpm/</c> (as created) or <c>vtpm-GEN/</c> (as re-sealed).</summary>
    [GeneratedRegex(@"^vtpm(-[0-9a-f]{16})?/tpm2-00\.permall\z", RegexOptions.CultureInvariant)]
    private static partial Regex StateName();

    private static byte[] ReadChecked(string directory, BundleFile file, string code, long maxBytes)
    {
        string path = Path.Combine(directory, file.File);
        var info = new FileInfo(path);
        var missing = new ShieldedVmBundleException(code, $"{path} is missing, a symbolic link or larger than {maxBytes} bytes.");
        if (!info.Exists || info.Length > maxBytes || info.LinkTarget is not null)
        {
            throw missing;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            // Deleted since it was looked at: a change committed meanwhile took it away (Load reads again).
            throw missing;
        }

        byte[] expected;
        try
        {
            expected = Convert.FromHexString(file.Sha256);
        }
        catch (FormatException)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"the manifest's SHA-256 of {file.File} is not hex.");
        }

        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(bytes), expected))
        {
            throw new ShieldedVmBundleException(code, $"{path} is not the file the manifest names (SHA-256 differs): it was changed or taken from another VM.");
        }

        return bytes;
    }
}
