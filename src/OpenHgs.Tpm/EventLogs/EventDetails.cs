namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Decoded event data. Subtypes correspond to the structures of the TCG PC Client Platform Firmware Profile
/// and the UEFI specification. Decoding never throws: malformed data leaves <see cref="TcgEvent.Details"/> null.
/// </summary>
public abstract record EventDetails;

/// <summary>A text event (EV_IPL, EV_EFI_ACTION, EV_S_CRTM_VERSION, EV_POST_CODE, EV_ACTION, …), NULs trimmed.</summary>
/// <param name="Text">The decoded text.</param>
/// <param name="Encoding">"ascii", "utf-8" or "utf-16le".</param>
public sealed record TextEventDetails(string Text, string Encoding) : EventDetails;

/// <summary>An EV_SEPARATOR: value 0 is a normal separator, 0xFFFFFFFF (or 1) signals an error.</summary>
public sealed record SeparatorEventDetails(uint Value) : EventDetails
{
    /// <summary>True when the separator signals a firmware error.</summary>
    public bool IsError => Value != 0;
}

/// <summary>A UEFI_VARIABLE_DATA (EFI variable events).</summary>
/// <param name="VendorGuid">Variable namespace GUID.</param>
/// <param name="Name">Variable name (e.g. "SecureBoot", "PK", "db").</param>
/// <param name="VariableData">Variable content.</param>
public sealed record UefiVariableDetails(Guid VendorGuid, string Name, byte[] VariableData) : EventDetails
{
    /// <summary>EFI_GLOBAL_VARIABLE (SecureBoot, PK, KEK, Boot####, BootOrder).</summary>
    public static readonly Guid EfiGlobalVariable = new("8be4df61-93ca-11d2-aa0d-00e098032b8c");

    /// <summary>EFI_IMAGE_SECURITY_DATABASE_GUID (db, dbx, dbt, dbr).</summary>
    public static readonly Guid ImageSecurityDatabase = new("d719b2cb-3d3a-4596-a3bc-dad00e67656f");

    /// <summary>Shim's vendor GUID (MokList, SbatLevel, …).</summary>
    public static readonly Guid ShimLock = new("605dab50-e046-4300-abb6-3dd810dd8b23");
}

/// <summary>A UEFI_IMAGE_LOAD_EVENT (EV_EFI_BOOT_SERVICES_APPLICATION/DRIVER, EV_EFI_RUNTIME_SERVICES_DRIVER).</summary>
/// <param name="ImageLocation">Load address.</param>
/// <param name="ImageLength">Image length in memory.</param>
/// <param name="LinkTimeAddress">Link-time address.</param>
/// <param name="DevicePath">Rendered device path (best effort, e.g. "PciRoot/…/\EFI\BOOT\BOOTX64.EFI").</param>
public sealed record ImageLoadEventDetails(ulong ImageLocation, ulong ImageLength, ulong LinkTimeAddress, string DevicePath)
    : EventDetails;

/// <summary>A UEFI_PLATFORM_FIRMWARE_BLOB (EV_EFI_PLATFORM_FIRMWARE_BLOB).</summary>
public sealed record FirmwareBlobEventDetails(ulong Base, ulong Length) : EventDetails;

/// <summary>A UEFI_PLATFORM_FIRMWARE_BLOB2 (EV_EFI_PLATFORM_FIRMWARE_BLOB2).</summary>
public sealed record FirmwareBlob2EventDetails(string Description, ulong Base, ulong Length) : EventDetails;

/// <summary>A UEFI_HANDOFF_TABLE_POINTERS (EV_EFI_HANDOFF_TABLES): the configuration table GUIDs.</summary>
public sealed record HandoffTablesEventDetails(IReadOnlyList<Guid> Tables) : EventDetails;

/// <summary>A UEFI_GPT_DATA (EV_EFI_GPT_EVENT): disk GUID and the partitions.</summary>
public sealed record GptEventDetails(Guid DiskGuid, IReadOnlyList<GptPartition> Partitions) : EventDetails;

/// <summary>One GPT partition entry.</summary>
public sealed record GptPartition(Guid TypeGuid, Guid UniqueGuid, ulong FirstLba, ulong LastLba, string Name);

/// <summary>The EV_NO_ACTION "StartupLocality" event: PCR 0 starts at 0…0<see cref="Locality"/>.</summary>
public sealed record StartupLocalityEventDetails(byte Locality) : EventDetails;

/// <summary>Another EV_NO_ACTION event identified by its signature (e.g. "SP800-155 Event").</summary>
public sealed record NoActionEventDetails(string Signature) : EventDetails;

/// <summary>The crypto-agile header (TCG_EfiSpecIDEvent, signature "Spec ID Event03").</summary>
/// <param name="PlatformClass">0 client, 1 server.</param>
/// <param name="SpecVersion">"major.minor.errata".</param>
/// <param name="UintnSize">1 for 32-bit UINTN, 2 for 64-bit.</param>
/// <param name="Algorithms">Banks and their digest sizes, in header order.</param>
/// <param name="VendorInfo">Vendor-specific bytes.</param>
public sealed record SpecIdEventDetails(
    uint PlatformClass,
    string SpecVersion,
    byte UintnSize,
    IReadOnlyList<SpecIdAlgorithm> Algorithms,
    byte[] VendorInfo) : EventDetails;

/// <summary>One bank declared in the Spec ID event.</summary>
public sealed record SpecIdAlgorithm(TpmAlgorithm Algorithm, int DigestSize);
