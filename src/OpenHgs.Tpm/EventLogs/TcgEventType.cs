namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// TCG PC Client event types (TCG PC Client Platform Firmware Profile, §10.4.1). Values are the wire values;
/// unknown values are preserved as out-of-range enum values. <see cref="TcgEventTypes.SpecName"/> renders
/// the specification's name (EV_…).
/// </summary>
public enum TcgEventType : uint
{
    /// <summary>EV_PREBOOT_CERT.</summary>
    PrebootCert = 0x00000000,
    /// <summary>EV_POST_CODE.</summary>
    PostCode = 0x00000001,
    /// <summary>EV_UNUSED.</summary>
    Unused = 0x00000002,
    /// <summary>EV_NO_ACTION: informational, never extended into a PCR.</summary>
    NoAction = 0x00000003,
    /// <summary>EV_SEPARATOR.</summary>
    Separator = 0x00000004,
    /// <summary>EV_ACTION.</summary>
    Action = 0x00000005,
    /// <summary>EV_EVENT_TAG.</summary>
    EventTag = 0x00000006,
    /// <summary>EV_S_CRTM_CONTENTS.</summary>
    SCrtmContents = 0x00000007,
    /// <summary>EV_S_CRTM_VERSION.</summary>
    SCrtmVersion = 0x00000008,
    /// <summary>EV_CPU_MICROCODE.</summary>
    CpuMicrocode = 0x00000009,
    /// <summary>EV_PLATFORM_CONFIG_FLAGS.</summary>
    PlatformConfigFlags = 0x0000000A,
    /// <summary>EV_TABLE_OF_DEVICES.</summary>
    TableOfDevices = 0x0000000B,
    /// <summary>EV_COMPACT_HASH.</summary>
    CompactHash = 0x0000000C,
    /// <summary>EV_IPL (boot loader measurements: grub commands, kernel command line).</summary>
    Ipl = 0x0000000D,
    /// <summary>EV_IPL_PARTITION_DATA.</summary>
    IplPartitionData = 0x0000000E,
    /// <summary>EV_NONHOST_CODE.</summary>
    NonhostCode = 0x0000000F,
    /// <summary>EV_NONHOST_CONFIG.</summary>
    NonhostConfig = 0x00000010,
    /// <summary>EV_NONHOST_INFO.</summary>
    NonhostInfo = 0x00000011,
    /// <summary>EV_OMIT_BOOT_DEVICE_EVENTS.</summary>
    OmitBootDeviceEvents = 0x00000012,
    /// <summary>EV_POST_CODE2.</summary>
    PostCode2 = 0x00000013,
    /// <summary>EV_EFI_EVENT_BASE.</summary>
    EfiEventBase = 0x80000000,
    /// <summary>EV_EFI_VARIABLE_DRIVER_CONFIG (SecureBoot, PK, KEK, db, dbx in PCR 7).</summary>
    EfiVariableDriverConfig = 0x80000001,
    /// <summary>EV_EFI_VARIABLE_BOOT (BootOrder, Boot#### in PCR 1).</summary>
    EfiVariableBoot = 0x80000002,
    /// <summary>EV_EFI_BOOT_SERVICES_APPLICATION (PE images: shim, grub, kernel in PCR 4).</summary>
    EfiBootServicesApplication = 0x80000003,
    /// <summary>EV_EFI_BOOT_SERVICES_DRIVER.</summary>
    EfiBootServicesDriver = 0x80000004,
    /// <summary>EV_EFI_RUNTIME_SERVICES_DRIVER.</summary>
    EfiRuntimeServicesDriver = 0x80000005,
    /// <summary>EV_EFI_GPT_EVENT.</summary>
    EfiGptEvent = 0x80000006,
    /// <summary>EV_EFI_ACTION.</summary>
    EfiAction = 0x80000007,
    /// <summary>EV_EFI_PLATFORM_FIRMWARE_BLOB.</summary>
    EfiPlatformFirmwareBlob = 0x80000008,
    /// <summary>EV_EFI_HANDOFF_TABLES.</summary>
    EfiHandoffTables = 0x80000009,
    /// <summary>EV_EFI_PLATFORM_FIRMWARE_BLOB2.</summary>
    EfiPlatformFirmwareBlob2 = 0x8000000A,
    /// <summary>EV_EFI_HANDOFF_TABLES2.</summary>
    EfiHandoffTables2 = 0x8000000B,
    /// <summary>EV_EFI_VARIABLE_BOOT2.</summary>
    EfiVariableBoot2 = 0x8000000C,
    /// <summary>EV_EFI_GPT_EVENT2.</summary>
    EfiGptEvent2 = 0x8000000D,
    /// <summary>EV_EFI_HCRTM_EVENT.</summary>
    EfiHcrtmEvent = 0x80000010,
    /// <summary>EV_EFI_VARIABLE_AUTHORITY (db entry that authorised an image, PCR 7).</summary>
    EfiVariableAuthority = 0x800000E0,
    /// <summary>EV_EFI_SPDM_FIRMWARE_BLOB.</summary>
    EfiSpdmFirmwareBlob = 0x800000E1,
    /// <summary>EV_EFI_SPDM_FIRMWARE_CONFIG.</summary>
    EfiSpdmFirmwareConfig = 0x800000E2,
    /// <summary>EV_EFI_SPDM_DEVICE_POLICY.</summary>
    EfiSpdmDevicePolicy = 0x800000E3,
    /// <summary>EV_EFI_SPDM_DEVICE_AUTHORITY.</summary>
    EfiSpdmDeviceAuthority = 0x800000E4,
}

/// <summary>Naming helpers for <see cref="TcgEventType"/>.</summary>
public static class TcgEventTypes
{
    private static readonly Dictionary<TcgEventType, string> Names = new()
    {
        [TcgEventType.PrebootCert] = "EV_PREBOOT_CERT",
        [TcgEventType.PostCode] = "EV_POST_CODE",
        [TcgEventType.Unused] = "EV_UNUSED",
        [TcgEventType.NoAction] = "EV_NO_ACTION",
        [TcgEventType.Separator] = "EV_SEPARATOR",
        [TcgEventType.Action] = "EV_ACTION",
        [TcgEventType.EventTag] = "EV_EVENT_TAG",
        [TcgEventType.SCrtmContents] = "EV_S_CRTM_CONTENTS",
        [TcgEventType.SCrtmVersion] = "EV_S_CRTM_VERSION",
        [TcgEventType.CpuMicrocode] = "EV_CPU_MICROCODE",
        [TcgEventType.PlatformConfigFlags] = "EV_PLATFORM_CONFIG_FLAGS",
        [TcgEventType.TableOfDevices] = "EV_TABLE_OF_DEVICES",
        [TcgEventType.CompactHash] = "EV_COMPACT_HASH",
        [TcgEventType.Ipl] = "EV_IPL",
        [TcgEventType.IplPartitionData] = "EV_IPL_PARTITION_DATA",
        [TcgEventType.NonhostCode] = "EV_NONHOST_CODE",
        [TcgEventType.NonhostConfig] = "EV_NONHOST_CONFIG",
        [TcgEventType.NonhostInfo] = "EV_NONHOST_INFO",
        [TcgEventType.OmitBootDeviceEvents] = "EV_OMIT_BOOT_DEVICE_EVENTS",
        [TcgEventType.PostCode2] = "EV_POST_CODE2",
        [TcgEventType.EfiEventBase] = "EV_EFI_EVENT_BASE",
        [TcgEventType.EfiVariableDriverConfig] = "EV_EFI_VARIABLE_DRIVER_CONFIG",
        [TcgEventType.EfiVariableBoot] = "EV_EFI_VARIABLE_BOOT",
        [TcgEventType.EfiBootServicesApplication] = "EV_EFI_BOOT_SERVICES_APPLICATION",
        [TcgEventType.EfiBootServicesDriver] = "EV_EFI_BOOT_SERVICES_DRIVER",
        [TcgEventType.EfiRuntimeServicesDriver] = "EV_EFI_RUNTIME_SERVICES_DRIVER",
        [TcgEventType.EfiGptEvent] = "EV_EFI_GPT_EVENT",
        [TcgEventType.EfiAction] = "EV_EFI_ACTION",
        [TcgEventType.EfiPlatformFirmwareBlob] = "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        [TcgEventType.EfiHandoffTables] = "EV_EFI_HANDOFF_TABLES",
        [TcgEventType.EfiPlatformFirmwareBlob2] = "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        [TcgEventType.EfiHandoffTables2] = "EV_EFI_HANDOFF_TABLES2",
        [TcgEventType.EfiVariableBoot2] = "EV_EFI_VARIABLE_BOOT2",
        [TcgEventType.EfiGptEvent2] = "EV_EFI_GPT_EVENT2",
        [TcgEventType.EfiHcrtmEvent] = "EV_EFI_HCRTM_EVENT",
        [TcgEventType.EfiVariableAuthority] = "EV_EFI_VARIABLE_AUTHORITY",
        [TcgEventType.EfiSpdmFirmwareBlob] = "EV_EFI_SPDM_FIRMWARE_BLOB",
        [TcgEventType.EfiSpdmFirmwareConfig] = "EV_EFI_SPDM_FIRMWARE_CONFIG",
        [TcgEventType.EfiSpdmDevicePolicy] = "EV_EFI_SPDM_DEVICE_POLICY",
        [TcgEventType.EfiSpdmDeviceAuthority] = "EV_EFI_SPDM_DEVICE_AUTHORITY",
    };

    /// <summary>The specification name (e.g. "EV_SEPARATOR"); unknown values render as "EV_UNKNOWN_0xNNNNNNNN".</summary>
    public static string SpecName(this TcgEventType type) =>
        Names.TryGetValue(type, out var name) ? name : $"EV_UNKNOWN_0x{(uint)type:x8}";

    /// <summary>True for the EFI variable event types whose data is a UEFI_VARIABLE_DATA structure.</summary>
    public static bool IsEfiVariable(this TcgEventType type) => type is TcgEventType.EfiVariableDriverConfig
        or TcgEventType.EfiVariableBoot or TcgEventType.EfiVariableBoot2 or TcgEventType.EfiVariableAuthority;
}
