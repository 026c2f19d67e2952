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
    /// <summary>The folder swtpm keeps the state in: the one the manifest names (<c>vtpm</c> or <c>vtpm-GEN</c>).</summary>
    public string StateDirectory => Path.Combine(Directory, Path.GetDirectoryName(Manifest.Vtpm.State.File)!);

    /// <summary>The key protector file the manifest names (<c>vm.kp</c> or <c>vm-GEN.kp</c>).</summary>
    public string KeyProtectorPath => Path.Combine(Directory, Manifest.KeyProtector.File);
}

/// <summary>
/// A shielded VM bundle (docs/shielded-vms.md): <c>vm.json</c> (<see cref="ShieldedVmManifest"/>), the key protector
/// (<c>vm.kp</c> when created, <c>vm-GEN.kp</c> once changed) and the swtpm state folder (<c>vtpm/</c>, then
/// <c>vtpm-GEN/</c>), encrypted under the key protector's transport key; the manifest names both. Security contract:
/// the transport key exists only in memory while the bundle is created and is never written; the vTPM state is never
/// written in clear; a bundle is created whole or not at all, and changed by one rename of its manifest
/// (<see cref="BundleCommit"/>), under <see cref="BundleLock"/>.
/// </summary>
public static partial class ShieldedVmBundle
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
            BundleCommit.WriteDurably(Path.Combine(staging, ShieldedVmManifest.FileName), JsonSerializer.SerializeToUtf8Bytes(manifest, WireJson.Default.ShieldedVmManifest));
            OwnerOnlyFile.CreateNew(Path.Combine(staging, BundleLock.FileName), []);
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
    /// Re-seals a stopped VM's bundle for its next start (docs/shielded-vms.md): the vTPM state, now under
    /// <paramref name="transportKey"/>, is re-encrypted under <paramref name="egressTransportKey"/> into a new state
    /// folder, the egress key protector is written as a new key protector file, and a manifest naming both commits them
    /// by one rename (<see cref="BundleCommit"/>), so only a release of the egress key protector opens the VM again (a
    /// guardian the owner revoked has no wrapping in it); the old state and key protector are deleted after that. The
    /// caller holds the bundle's <see cref="BundleLock"/>. Returns the new manifest.
    /// </summary>
    public static ShieldedVmManifest Reseal(LoadedBundle bundle, ReadOnlySpan<byte> transportKey, byte[] egressKeyProtector, ReadOnlySpan<byte> egressTransportKey)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(egressKeyProtector);
        var egress = KeyProtector.Parse(egressKeyProtector);
        BundleCommit.Sweep(bundle);
        string stateFolder = BundleCommit.NewStateFolder();
        string protectorFile = BundleCommit.NewKeyProtectorFile();
        ShieldedVmManifest manifest;
        try
        {
            byte[] ingress = transportKey.ToArray();
            byte[] egressKey = egressTransportKey.ToArray();
            try
            {
                BundleCommit.Reach("state written", () =>
                {
                    VtpmEmulator.Reseal(bundle.StateDirectory, ingress, Path.Combine(bundle.Directory, stateFolder), egressKey);
                    BundleCommit.FlushToDisk(Path.Combine(bundle.Directory, stateFolder, VtpmEmulator.StateFile));
                });
            }
            finally
            {
                CryptographicOperations.ZeroMemory(ingress);
                CryptographicOperations.ZeroMemory(egressKey);
            }

            BundleCommit.Reach("key protector written", () => BundleCommit.WriteDurably(Path.Combine(bundle.Directory, protectorFile), egressKeyProtector));
            manifest = bundle.Manifest with
            {
                Guardians = GrantedGuardians(egress),
                KeyProtector = Describe(bundle.Directory, protectorFile),
                Vtpm = bundle.Manifest.Vtpm with { State = Describe(bundle.Directory, Path.Combine(stateFolder, VtpmEmulator.StateFile)) },
            };
        }
        catch
        {
            BundleCommit.Discard(bundle, stateFolder, protectorFile);
            throw;
        }

        BundleCommit.Commit(bundle, manifest, [stateFolder, protectorFile]);
        return manifest;
    }

    /// <summary>
    /// The owner grants <paramref name="guardian"/> (a fabric's guardian metadata) the bundle in
    /// <paramref name="directory"/>: under the bundle's <see cref="BundleLock"/>, the bundle is loaded and checked as
    /// <see cref="Load"/> does (both digests), a wrapping for the guardian is added with
    /// <see cref="KeyProtectorBuilder.Grant"/> (the transport key is unchanged, so the vTPM state is not touched), and the
    /// new key protector and a manifest naming it and the granted guardians replace the old ones
    /// (<see cref="ReplaceKeyProtector"/>: all or nothing). Returns the new manifest.
    /// </summary>
    /// <exception cref="ShieldedVmBundleException"><c>BundleBusy</c>, or any of <see cref="Load"/>'s.</exception>
    /// <exception cref="KeyProtectorException">Any of <see cref="KeyProtectorBuilder.Grant"/>'s: OwnerKeyMismatch, AlreadyGranted, DuplicateWrapping, Oversized, a verification error.</exception>
    /// <exception cref="GuardianFormatException">The guardian's metadata is invalid.</exception>
    public static ShieldedVmManifest Grant(string directory, LocalGuardian owner, GuardianMetadata guardian)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardian);
        return ReplaceKeyProtector(directory, bundle => KeyProtectorBuilder.Grant(bundle.KeyProtector, owner, guardian));
    }

    /// <summary>
    /// The owner revokes the guardian named <paramref name="guardianName"/> (ordinal) from the bundle in
    /// <paramref name="directory"/>: as <see cref="Grant"/>, with <see cref="KeyProtectorBuilder.Revoke"/> (its wrappings
    /// and those descended from them are removed). The transport key is unchanged: the revoked guardian, or a key
    /// protection service holding an older copy of the key protector, can still release it until the VM is started on a
    /// fabric still granted and re-sealed at <c>vm-stop</c> (docs/key-protector.md §6.1). Returns the new manifest.
    /// </summary>
    /// <exception cref="ShieldedVmBundleException"><c>BundleBusy</c>, or any of <see cref="Load"/>'s.</exception>
    /// <exception cref="KeyProtectorException">Any of <see cref="KeyProtectorBuilder.Revoke"/>'s: OwnerKeyMismatch, NotGrantedToGuardian, CannotRevokeOwner, a verification error.</exception>
    public static ShieldedVmManifest Revoke(string directory, LocalGuardian owner, string guardianName)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardianName);
        return ReplaceKeyProtector(directory, bundle => KeyProtectorBuilder.Revoke(bundle.KeyProtector, owner, guardianName));
    }

    /// <summary>
    /// Under the bundle's lock, loads it, sweeps what an interrupted change left, and replaces its key protector with
    /// <paramref name="change"/>'s (same transport key: the vTPM state is kept): the new key protector is written as a
    /// new file and a manifest naming its digest and guardians commits it by one rename (<see cref="BundleCommit"/>).
    /// </summary>
    private static ShieldedVmManifest ReplaceKeyProtector(string directory, Func<LoadedBundle, KeyProtector> change)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        using var held = BundleLock.Acquire(directory);
        var bundle = Load(directory);
        var protector = change(bundle);
        BundleCommit.Sweep(bundle);
        byte[] protectorBytes = protector.ToJson();
        string protectorFile = BundleCommit.NewKeyProtectorFile();
        try
        {
            BundleCommit.Reach("key protector written", () => BundleCommit.WriteDurably(Path.Combine(bundle.Directory, protectorFile), protectorBytes));
        }
        catch
        {
            BundleCommit.Discard(bundle, protectorFile);
            throw;
        }

        var manifest = bundle.Manifest with
        {
            Guardians = GrantedGuardians(protector),
            KeyProtector = new BundleFile(protectorFile, Convert.ToHexStringLower(SHA256.HashData(protectorBytes))),
        };
        BundleCommit.Commit(bundle, manifest, [protectorFile]);
        return manifest;
    }

    /// <summary>The guardians a key protector grants, as a manifest names them: every non-owner wrapping's name, once.</summary>
    private static List<string> GrantedGuardians(KeyProtector protector) =>
        protector.Wrappings.Where(w => !w.IsOwner).Select(w => w.GuardianName).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Records the state a stopped vTPM left (still under the current transport key) in the manifest, when it could not
    /// be re-sealed: the bundle stays consistent and opens with the current key protector. The caller holds the bundle's
    /// <see cref="BundleLock"/>.
    /// </summary>
    public static ShieldedVmManifest RecordState(LoadedBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var manifest = bundle.Manifest with { Vtpm = bundle.Manifest.Vtpm with { State = Describe(bundle.Directory, bundle.Manifest.Vtpm.State.File) } };
        BundleCommit.Commit(bundle, manifest, []);
        return manifest;
    }

    private static BundleFile Describe(string directory, string file) =>
        new(file, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, file)))));
}
