namespace OpenHgs.Tpm.Commands;

/// <summary>TPM_CC command codes used by <see cref="TpmClient"/>.</summary>
public enum TpmCommandCode : uint
{
    /// <summary>TPM2_EvictControl.</summary>
    EvictControl = 0x120,
    /// <summary>TPM2_CreatePrimary.</summary>
    CreatePrimary = 0x131,
    /// <summary>TPM2_Startup.</summary>
    Startup = 0x144,
    /// <summary>TPM2_ActivateCredential.</summary>
    ActivateCredential = 0x147,
    /// <summary>TPM2_Certify.</summary>
    Certify = 0x148,
    /// <summary>TPM2_NV_Read.</summary>
    NvRead = 0x14E,
    /// <summary>TPM2_PolicySecret.</summary>
    PolicySecret = 0x151,
    /// <summary>TPM2_Create.</summary>
    Create = 0x153,
    /// <summary>TPM2_Load.</summary>
    Load = 0x157,
    /// <summary>TPM2_Quote.</summary>
    Quote = 0x158,
    /// <summary>TPM2_RSA_Decrypt.</summary>
    RsaDecrypt = 0x159,
    /// <summary>TPM2_FlushContext.</summary>
    FlushContext = 0x165,
    /// <summary>TPM2_MakeCredential.</summary>
    MakeCredential = 0x168,
    /// <summary>TPM2_NV_ReadPublic.</summary>
    NvReadPublic = 0x169,
    /// <summary>TPM2_ReadPublic.</summary>
    ReadPublic = 0x173,
    /// <summary>TPM2_StartAuthSession.</summary>
    StartAuthSession = 0x176,
    /// <summary>TPM2_GetCapability.</summary>
    GetCapability = 0x17A,
    /// <summary>TPM2_GetRandom.</summary>
    GetRandom = 0x17B,
    /// <summary>TPM2_PCR_Read.</summary>
    PcrRead = 0x17E,
    /// <summary>TPM2_PolicyPCR.</summary>
    PolicyPcr = 0x17F,
    /// <summary>TPM2_PCR_Extend.</summary>
    PcrExtend = 0x182,
}

/// <summary>Well-known handles and structure tags.</summary>
public static class TpmHandles
{
    /// <summary>TPM_RH_OWNER (storage hierarchy).</summary>
    public const uint Owner = 0x40000001;
    /// <summary>TPM_RH_NULL.</summary>
    public const uint Null = 0x40000007;
    /// <summary>TPM_RS_PW (password authorisation).</summary>
    public const uint PasswordSession = 0x40000009;
    /// <summary>TPM_RH_ENDORSEMENT.</summary>
    public const uint Endorsement = 0x4000000B;
    /// <summary>TPM_RH_PLATFORM.</summary>
    public const uint Platform = 0x4000000C;
    /// <summary>NV index of the RSA-2048 EK certificate (TCG EK Credential Profile).</summary>
    public const uint EkCertificateRsa2048 = 0x01C00002;
    /// <summary>NV index of the ECC P-256 EK certificate.</summary>
    public const uint EkCertificateEccP256 = 0x01C0000A;
    /// <summary>First transient object handle (0x80000000); transient handles must be flushed.</summary>
    public const uint TransientFirst = 0x80000000;
    /// <summary>First HMAC session handle.</summary>
    public const uint HmacSessionFirst = 0x02000000;
    /// <summary>First policy session handle.</summary>
    public const uint PolicySessionFirst = 0x03000000;

    /// <summary>TPM_ST_NO_SESSIONS.</summary>
    public const ushort TagNoSessions = 0x8001;
    /// <summary>TPM_ST_SESSIONS.</summary>
    public const ushort TagSessions = 0x8002;

    /// <summary>True for handles that occupy TPM memory until flushed (transient objects and sessions).</summary>
    public static bool NeedsFlush(uint handle) => (handle >> 24) is 0x80 or 0x02 or 0x03;
}
