namespace OpenHgs.Tpm.Structures;

/// <summary>TPMA_OBJECT (TPM 2.0 Part 2 §8.3).</summary>
[Flags]
public enum ObjectAttributes : uint
{
    /// <summary>No attributes.</summary>
    None = 0,
    /// <summary>The object's hierarchy cannot change (it never leaves this TPM).</summary>
    FixedTpm = 1 << 1,
    /// <summary>Saved contexts are invalidated on TPM Reset/Restart.</summary>
    StClear = 1 << 2,
    /// <summary>The parent cannot change (no duplication).</summary>
    FixedParent = 1 << 4,
    /// <summary>The TPM generated the sensitive data.</summary>
    SensitiveDataOrigin = 1 << 5,
    /// <summary>USER role accepts the authValue.</summary>
    UserWithAuth = 1 << 6,
    /// <summary>ADMIN role requires a policy.</summary>
    AdminWithPolicy = 1 << 7,
    /// <summary>Not subject to dictionary-attack protection.</summary>
    NoDa = 1 << 10,
    /// <summary>Duplication requires an inner wrapper.</summary>
    EncryptedDuplication = 1 << 11,
    /// <summary>Restricted key (signs only TPM-generated data / decrypts only TPM formats).</summary>
    Restricted = 1 << 16,
    /// <summary>Decryption key.</summary>
    Decrypt = 1 << 17,
    /// <summary>Signing key.</summary>
    Sign = 1 << 18,
}
