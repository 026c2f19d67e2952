namespace OpenHgs.Tpm.Commands;

/// <summary>Base TPM_RC codes (format-1 codes without their parameter/handle/session number).</summary>
public enum TpmRc : uint
{
    /// <summary>TPM_RC_SUCCESS.</summary>
    Success = 0x000,
    /// <summary>TPM_RC_INITIALIZE: TPM2_Startup not yet run (or already run, for Startup).</summary>
    Initialize = 0x100,
    /// <summary>TPM_RC_FAILURE.</summary>
    Failure = 0x101,
    /// <summary>TPM_RC_AUTH_MISSING.</summary>
    AuthMissing = 0x125,
    /// <summary>TPM_RC_POLICY.</summary>
    Policy = 0x126,
    /// <summary>TPM_RC_PCR_CHANGED: a PCR changed after TPM2_PolicyPCR in the session, before the command it authorised.</summary>
    PcrChanged = 0x167,
    /// <summary>TPM_RC_COMMAND_SIZE.</summary>
    CommandSize = 0x142,
    /// <summary>TPM_RC_COMMAND_CODE.</summary>
    CommandCode = 0x143,
    /// <summary>TPM_RC_AUTHSIZE.</summary>
    AuthSize = 0x144,
    /// <summary>TPM_RC_NV_RANGE.</summary>
    NvRange = 0x146,
    /// <summary>TPM_RC_NV_AUTHORIZATION.</summary>
    NvAuthorization = 0x149,
    /// <summary>TPM_RC_NV_UNINITIALIZED.</summary>
    NvUninitialized = 0x14A,
    /// <summary>TPM_RC_ATTRIBUTES.</summary>
    Attributes = 0x082,
    /// <summary>TPM_RC_HASH.</summary>
    Hash = 0x083,
    /// <summary>TPM_RC_VALUE.</summary>
    Value = 0x084,
    /// <summary>TPM_RC_HIERARCHY.</summary>
    Hierarchy = 0x085,
    /// <summary>TPM_RC_KEY_SIZE.</summary>
    KeySize = 0x087,
    /// <summary>TPM_RC_TYPE.</summary>
    Type = 0x08A,
    /// <summary>TPM_RC_HANDLE.</summary>
    Handle = 0x08B,
    /// <summary>TPM_RC_RANGE.</summary>
    Range = 0x08D,
    /// <summary>TPM_RC_AUTH_FAIL.</summary>
    AuthFail = 0x08E,
    /// <summary>TPM_RC_SCHEME.</summary>
    Scheme = 0x092,
    /// <summary>TPM_RC_SIZE.</summary>
    Size = 0x095,
    /// <summary>TPM_RC_SYMMETRIC.</summary>
    Symmetric = 0x096,
    /// <summary>TPM_RC_INSUFFICIENT.</summary>
    Insufficient = 0x09A,
    /// <summary>TPM_RC_SIGNATURE.</summary>
    Signature = 0x09B,
    /// <summary>TPM_RC_KEY.</summary>
    Key = 0x09C,
    /// <summary>TPM_RC_POLICY_FAIL.</summary>
    PolicyFail = 0x09D,
    /// <summary>TPM_RC_INTEGRITY.</summary>
    Integrity = 0x09F,
    /// <summary>TPM_RC_BAD_AUTH.</summary>
    BadAuth = 0x0A2,
    /// <summary>TPM_RC_OBJECT_MEMORY: out of transient object slots (flush!).</summary>
    ObjectMemory = 0x902,
    /// <summary>TPM_RC_SESSION_MEMORY: out of session slots (flush!).</summary>
    SessionMemory = 0x903,
    /// <summary>TPM_RC_LOCKOUT.</summary>
    Lockout = 0x921,
    /// <summary>TPM_RC_RETRY.</summary>
    Retry = 0x922,
}

/// <summary>A TPM command returned a non-success response code.</summary>
public sealed class TpmException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TpmException(TpmCommandCode command, uint responseCode)
        : base($"TPM2_{command} failed: TPM_RC 0x{responseCode:x3} ({Describe(responseCode)})")
    {
        Command = command;
        ResponseCode = responseCode;
    }

    /// <summary>The command that failed.</summary>
    public TpmCommandCode Command { get; }

    /// <summary>The raw response code.</summary>
    public uint ResponseCode { get; }

    /// <summary>The base code (format-1 codes stripped of their parameter/handle/session number).</summary>
    public TpmRc Code => BaseCode(ResponseCode);

    /// <summary>Base code of a raw response code.</summary>
    public static TpmRc BaseCode(uint rc) => (rc & 0x80) != 0 ? (TpmRc)(rc & 0xBF) : (TpmRc)(rc & 0x97F);

    private static string Describe(uint rc)
    {
        var code = BaseCode(rc);
        var name = Enum.IsDefined(code) ? code.ToString() : $"0x{(uint)code:x3}";
        if ((rc & 0x80) == 0)
        {
            return name;
        }
        var n = (rc >> 8) & 0xF;
        return (rc & 0x40) != 0 ? $"{name}, parameter {n}" : (n & 0x8) != 0 ? $"{name}, session {n & 7}" : $"{name}, handle {n}";
    }
}
