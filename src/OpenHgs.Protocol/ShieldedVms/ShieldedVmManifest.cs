namespace OpenHgs.Protocol.ShieldedVms;

/// <summary>
/// <c>vm.json</c> of a shielded VM bundle (docs/shielded-vms.md): what the VM is, whose it is, which key protector
/// unlocks it and which encrypted vTPM state belongs to it. The digests bind the three files together, so a key
/// protector or state swapped in from another VM (or edited) is refused before anything is unlocked.
/// </summary>
/// <param name="Kind">Always <see cref="FileKind"/>.</param>
/// <param name="Version">Always 1.</param>
/// <param name="Name">The VM's name (1-64 of A-Z a-z 0-9 . _ -).</param>
/// <param name="Owner">The owner guardian's name.</param>
/// <param name="Guardians">The guardians the key protector grants (fabrics where the VM may run).</param>
/// <param name="CreatedAt">When the bundle was created.</param>
/// <param name="KeyProtector">The key protector's file name in the bundle, and its SHA-256.</param>
/// <param name="Vtpm">The vTPM state: emulator, cipher, folder and the SHA-256 of its state file.</param>
public sealed record ShieldedVmManifest(
    string Kind,
    int Version,
    string Name,
    string Owner,
    IReadOnlyList<string> Guardians,
    DateTimeOffset CreatedAt,
    BundleFile KeyProtector,
    VtpmState Vtpm)
{
    public const string FileKind = "openhgs-shielded-vm";

    public const string FileName = "vm.json";
}

/// <summary>A file of the bundle, by name relative to the bundle, with its SHA-256 (hex).</summary>
public sealed record BundleFile(string File, string Sha256);

/// <summary>
/// The vTPM state: <paramref name="Emulator"/> <c>swtpm</c> (TPM 2.0), its permanent state file in
/// <paramref name="State"/>, encrypted by swtpm with <paramref name="Cipher"/> under the VM's transport key.
/// </summary>
public sealed record VtpmState(string Emulator, string Cipher, BundleFile State);
