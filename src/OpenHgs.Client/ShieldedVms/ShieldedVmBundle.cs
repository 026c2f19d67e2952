using System.Security.Cryptography;
using System.Text.Json;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.ShieldedVms;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>A shielded VM bundle that cannot be used; <see cref="Code"/> is stable (docs/shielded-vms.md).</summary>
public sealed class ShieldedVmBundleException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>A bundle as read and checked: its folder, manifest, key protector, and the key protector's bytes (what a release sends).</summary>
public sealed record LoadedBundle(string Directory, ShieldedVmManifest Manifest, KeyProtector KeyProtector, byte[] KeyProtectorBytes)
{
    /// <summary>The folder swtpm keeps the state in.</summary>
    public string StateDirectory => Path.Combine(Directory, ShieldedVmBundle.VtpmFolder);
}

/// <summary>
/// A shielded VM bundle (docs/shielded-vms.md): <c>vm.json</c> (<see cref="ShieldedVmManifest"/>), <c>vm.kp</c> (the key
/// protector) and <c>vtpm/</c> (the swtpm state, encrypted under the key protector's transport key). Security contract:
/// the transport key exists only in memory while the bundle is created and is never written; the vTPM state is never
/// written in clear; a bundle is created whole or not at all.
/// </summary>
public static class ShieldedVmBundle
{
    public const string KeyProtectorFile = "vm.kp";

    public const string VtpmFolder = "vtpm";

    /// <summary>VM names also name sockets and libvirt domains, so they are plain.</summary>
    public const int MaxNameLength = 64;

    private const int MaxManifestBytes = 64 * 1024;

    private const long MaxStateBytes = 64 * 1024 * 1024;

    /// <summary>1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= MaxNameLength } && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>
    /// Creates the bundle folder <paramref name="directory"/> (it must not exist) for a VM called <paramref name="name"/>,
    /// owned by <paramref name="owner"/> and granted to <paramref name="guardians"/>: a fresh transport key, its key
    /// protector, and a freshly manufactured vTPM encrypted under it.
    /// </summary>
    public static ShieldedVmManifest Create(string directory, string name, LocalGuardian owner, IReadOnlyList<GuardianMetadata> guardians, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardians);
        ArgumentNullException.ThrowIfNull(time);
        if (!IsValidName(name))
        {
            throw new ShieldedVmBundleException("VmNameInvalid", $"'{name}' is not a VM name: 1-{MaxNameLength} of A-Z a-z 0-9 . _ -, starting with a letter or digit.");
        }

        string target = Path.GetFullPath(directory);
        if (Directory.Exists(target) || File.Exists(target))
        {
            throw new ShieldedVmBundleException("BundleExists", $"'{directory}' already exists: a bundle is created in a new folder.");
        }

        // Built beside the target and renamed into place: a failure leaves nothing at the target.
        string staging = target + ".creating-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        byte[] transportKey = RandomNumberGenerator.GetBytes(KeyProtectorVerifier.TransportKeyBytes);
        try
        {
            OwnerOnlyFile.CreateDirectory(Path.Combine(staging, VtpmFolder));
            byte[] protector = KeyProtectorBuilder.Create(owner, guardians, transportKey).ToJson();
            File.WriteAllBytes(Path.Combine(staging, KeyProtectorFile), protector);
            VtpmEmulator.Manufacture(Path.Combine(staging, VtpmFolder), transportKey);
            var manifest = new ShieldedVmManifest(
                ShieldedVmManifest.FileKind,
                1,
                name,
                owner.Metadata.Name,
                guardians.Select(g => g.Name).ToList(),
                time.GetUtcNow(),
                Describe(staging, KeyProtectorFile),
                new VtpmState(VtpmEmulator.Emulator, VtpmEmulator.Cipher, Describe(staging, Path.Combine(VtpmFolder, VtpmEmulator.StateFile))));
            WriteManifest(staging, manifest);
            Directory.Move(staging, target);
            return manifest;
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(transportKey);
        }
    }

    /// <summary>
    /// Reads a bundle and checks that its key protector and vTPM state are the ones its manifest names (SHA-256); with
    /// <paramref name="stateWrittenSinceStart"/> (a vTPM this host ran has written the state since) only that the state
    /// file is there. Throws <see cref="ShieldedVmBundleException"/>: <c>BundleMalformed</c>, <c>KeyProtectorMismatch</c>,
    /// <c>VtpmStateMismatch</c>.
    /// </summary>
    public static LoadedBundle Load(string directory, bool stateWrittenSinceStart = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string manifestPath = Path.Combine(directory, ShieldedVmManifest.FileName);
        ShieldedVmManifest manifest;
        try
        {
            var info = new FileInfo(manifestPath);
            if (!info.Exists || info.Length > MaxManifestBytes)
            {
                throw new ShieldedVmBundleException("BundleMalformed", $"'{directory}' is not a shielded VM bundle: {ShieldedVmManifest.FileName} is missing or larger than {MaxManifestBytes} bytes.");
            }

            manifest = JsonSerializer.Deserialize(File.ReadAllBytes(manifestPath), WireJson.Default.ShieldedVmManifest)
                ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"{manifestPath} is not a shielded VM manifest: {ex.Message.Split('.')[0]}.");
        }

        if (manifest.Kind != ShieldedVmManifest.FileKind || manifest.Version != 1 || !IsValidName(manifest.Name) || manifest.KeyProtector is null || manifest.Vtpm?.State is null
            || manifest.KeyProtector.File != KeyProtectorFile || manifest.Vtpm.State.File != Path.Combine(VtpmFolder, VtpmEmulator.StateFile)
            || manifest.Vtpm.Emulator != VtpmEmulator.Emulator || manifest.Vtpm.Cipher != VtpmEmulator.Cipher)
        {
            throw new ShieldedVmBundleException("BundleMalformed", $"{manifestPath} is not a version 1 {ShieldedVmManifest.FileKind} manifest of this release (kind, version, file names, emulator or cipher differ).");
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
            throw new ShieldedVmBundleException("BundleMalformed", $"{Path.Combine(directory, KeyProtectorFile)} is not a key protector: {ex.Message}");
        }
    }

    /// <summary>
    /// Re-seals a stopped VM's bundle for its next start (docs/shielded-vms.md): the vTPM state, now under
    /// <paramref name="transportKey"/>, is re-encrypted under <paramref name="egressTransportKey"/>, and the egress key
    /// protector replaces the key protector, so only a release of the egress key protector opens the VM again (a
    /// guardian the owner revoked has no wrapping in it). The new state is built beside the old one and swapped in
    /// (state, key protector, then the manifest naming both); the old state is deleted only after the new manifest is in
    /// place. Returns the new manifest.
    /// </summary>
    public static ShieldedVmManifest Reseal(LoadedBundle bundle, ReadOnlySpan<byte> transportKey, byte[] egressKeyProtector, ReadOnlySpan<byte> egressTransportKey)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(egressKeyProtector);
        var egress = KeyProtector.Parse(egressKeyProtector);
        string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        string staging = Path.Combine(bundle.Directory, VtpmFolder + ".resealing-" + suffix);
        string retired = Path.Combine(bundle.Directory, VtpmFolder + ".previous-" + suffix);
        try
        {
            VtpmEmulator.Reseal(bundle.StateDirectory, transportKey, staging, egressTransportKey);
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }

        Directory.Move(bundle.StateDirectory, retired);
        Directory.Move(staging, bundle.StateDirectory);
        ReplaceFile(Path.Combine(bundle.Directory, KeyProtectorFile), egressKeyProtector);
        var manifest = bundle.Manifest with
        {
            Guardians = GrantedGuardians(egress),
            KeyProtector = Describe(bundle.Directory, KeyProtectorFile),
            Vtpm = bundle.Manifest.Vtpm with { State = Describe(bundle.Directory, bundle.Manifest.Vtpm.State.File) },
        };
        WriteManifest(bundle.Directory, manifest);
        Directory.Delete(retired, recursive: true);
        return manifest;
    }

    /// <summary>
    /// The owner grants <paramref name="guardian"/> (a fabric's guardian metadata) the bundle in
    /// <paramref name="directory"/>: the bundle is loaded and checked as <see cref="Load"/> does (both digests), a wrapping
    /// for the guardian is added with <see cref="KeyProtectorBuilder.Grant"/> (the transport key is unchanged, so the vTPM
    /// state is not touched), and the new key protector and a manifest naming it and the granted guardians replace the
    /// old ones (<see cref="ReplaceKeyProtector"/>: all or nothing). Returns the new manifest.
    /// </summary>
    /// <exception cref="ShieldedVmBundleException">Any of <see cref="Load"/>'s.</exception>
    /// <exception cref="KeyProtectorException">Any of <see cref="KeyProtectorBuilder.Grant"/>'s: OwnerKeyMismatch, AlreadyGranted, DuplicateWrapping, Oversized, a verification error.</exception>
    /// <exception cref="GuardianFormatException">The guardian's metadata is invalid.</exception>
    public static ShieldedVmManifest Grant(string directory, LocalGuardian owner, GuardianMetadata guardian)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardian);
        var bundle = Load(directory);
        return ReplaceKeyProtector(bundle, KeyProtectorBuilder.Grant(bundle.KeyProtector, owner, guardian));
    }

    /// <summary>
    /// The owner revokes the guardian named <paramref name="guardianName"/> (ordinal) from the bundle in
    /// <paramref name="directory"/>: as <see cref="Grant"/>, with <see cref="KeyProtectorBuilder.Revoke"/> (its wrappings
    /// and those descended from them are removed). The transport key is unchanged: the revoked guardian, or a key
    /// protection service holding an older copy of the key protector, can still release it until the VM is started on a
    /// fabric still granted and re-sealed at <c>vm-stop</c> (docs/key-protector.md §6.1). Returns the new manifest.
    /// </summary>
    /// <exception cref="ShieldedVmBundleException">Any of <see cref="Load"/>'s.</exception>
    /// <exception cref="KeyProtectorException">Any of <see cref="KeyProtectorBuilder.Revoke"/>'s: OwnerKeyMismatch, NotGrantedToGuardian, CannotRevokeOwner, a verification error.</exception>
    public static ShieldedVmManifest Revoke(string directory, LocalGuardian owner, string guardianName)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardianName);
        var bundle = Load(directory);
        return ReplaceKeyProtector(bundle, KeyProtectorBuilder.Revoke(bundle.KeyProtector, owner, guardianName));
    }

    /// <summary>
    /// Replaces a loaded bundle's key protector with <paramref name="protector"/> (same transport key: the vTPM state is
    /// kept) and writes a manifest naming its digest and guardians. Both files are written beside their predecessors
    /// first; then <c>vm.kp</c> and <c>vm.json</c> are renamed into place, in that order. A failure before the second
    /// rename puts the old <c>vm.kp</c> back, so the bundle is as it was; nothing is left beside it. Two renames are not
    /// one atomic step: a crash between them leaves <c>vm.kp</c> new and <c>vm.json</c> old (the bundle is refused,
    /// <c>KeyProtectorMismatch</c>) with <c>vm.kp.previous-*</c> (the old key protector, which the manifest names) and
    /// <c>vm.json.new-*</c> (the new manifest) beside them: renaming either back makes the bundle whole.
    /// </summary>
    private static ShieldedVmManifest ReplaceKeyProtector(LoadedBundle bundle, KeyProtector protector)
    {
        byte[] protectorBytes = protector.ToJson();
        var manifest = bundle.Manifest with
        {
            Guardians = GrantedGuardians(protector),
            KeyProtector = new BundleFile(KeyProtectorFile, Convert.ToHexStringLower(SHA256.HashData(protectorBytes))),
        };
        string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        string protectorPath = Path.Combine(bundle.Directory, KeyProtectorFile);
        string manifestPath = Path.Combine(bundle.Directory, ShieldedVmManifest.FileName);
        string newProtector = protectorPath + ".new-" + suffix;
        string previousProtector = protectorPath + ".previous-" + suffix;
        string newManifest = manifestPath + ".new-" + suffix;
        bool protectorReplaced = false;
        try
        {
            WriteDurably(newProtector, protectorBytes);
            WriteDurably(newManifest, JsonSerializer.SerializeToUtf8Bytes(manifest, WireJson.Default.ShieldedVmManifest));
            WriteDurably(previousProtector, bundle.KeyProtectorBytes);
            File.Move(newProtector, protectorPath, overwrite: true);
            protectorReplaced = true;
            File.Move(newManifest, manifestPath, overwrite: true);
        }
        catch
        {
            if (protectorReplaced)
            {
                // The manifest still names the old key protector: put it back (a rename, as the new one came in). Should
                // that fail too, the old key protector stays beside it (vm.kp.previous-*) for the owner to rename back.
                File.Move(previousProtector, protectorPath, overwrite: true);
            }

            File.Delete(newProtector);
            File.Delete(newManifest);
            File.Delete(previousProtector);
            throw;
        }

        File.Delete(previousProtector);
        return manifest;
    }

    /// <summary>The guardians a key protector grants, as a manifest names them: every non-owner wrapping's name, once.</summary>
    private static List<string> GrantedGuardians(KeyProtector protector) =>
        protector.Wrappings.Where(w => !w.IsOwner).Select(w => w.GuardianName).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Writes a new file and flushes it to disk, so a rename of it that survives a crash names its content.</summary>
    private static void WriteDurably(string path, byte[] content)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.Write(content);
        file.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Records the state a stopped vTPM left (still under the current transport key) in the manifest, when it could not
    /// be re-sealed: the bundle stays consistent and opens with the current key protector.
    /// </summary>
    public static ShieldedVmManifest RecordState(LoadedBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var manifest = bundle.Manifest with { Vtpm = bundle.Manifest.Vtpm with { State = Describe(bundle.Directory, bundle.Manifest.Vtpm.State.File) } };
        WriteManifest(bundle.Directory, manifest);
        return manifest;
    }

    private static void WriteManifest(string directory, ShieldedVmManifest manifest) =>
        ReplaceFile(Path.Combine(directory, ShieldedVmManifest.FileName), JsonSerializer.SerializeToUtf8Bytes(manifest, WireJson.Default.ShieldedVmManifest));

    /// <summary>Writes a sibling and renames it over <paramref name="path"/>: readers see the old file or the new one.</summary>
    private static void ReplaceFile(string path, byte[] content)
    {
        string temporary = path + ".new-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        WriteDurably(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    private static BundleFile Describe(string directory, string file) =>
        new(file, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, file)))));

    private static byte[] ReadChecked(string directory, BundleFile file, string code, long maxBytes)
    {
        string path = Path.Combine(directory, file.File);
        var info = new FileInfo(path);
        if (!info.Exists || info.Length > maxBytes || info.LinkTarget is not null)
        {
            throw new ShieldedVmBundleException(code, $"{path} is missing, a symbolic link or larger than {maxBytes} bytes.");
        }

        byte[] bytes = File.ReadAllBytes(path);
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
