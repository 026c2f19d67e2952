namespace OpenHgs.Tpm;

/// <summary>
/// TPM 2.0 algorithm identifiers (TPM_ALG_ID, TPM 2.0 Part 2 §6.3). Values are the wire values.
/// Unknown identifiers may appear as out-of-range enum values; use <see cref="TpmAlgorithms.Name"/> to render.
/// </summary>
public enum TpmAlgorithm : ushort
{
    /// <summary>TPM_ALG_ERROR.</summary>
    Error = 0x0000,
    /// <summary>TPM_ALG_RSA.</summary>
    Rsa = 0x0001,
    /// <summary>TPM_ALG_TDES.</summary>
    Tdes = 0x0003,
    /// <summary>TPM_ALG_SHA1.</summary>
    Sha1 = 0x0004,
    /// <summary>TPM_ALG_HMAC.</summary>
    Hmac = 0x0005,
    /// <summary>TPM_ALG_AES.</summary>
    Aes = 0x0006,
    /// <summary>TPM_ALG_MGF1.</summary>
    Mgf1 = 0x0007,
    /// <summary>TPM_ALG_KEYEDHASH.</summary>
    KeyedHash = 0x0008,
    /// <summary>TPM_ALG_XOR.</summary>
    Xor = 0x000A,
    /// <summary>TPM_ALG_SHA256.</summary>
    Sha256 = 0x000B,
    /// <summary>TPM_ALG_SHA384.</summary>
    Sha384 = 0x000C,
    /// <summary>TPM_ALG_SHA512.</summary>
    Sha512 = 0x000D,
    /// <summary>TPM_ALG_NULL.</summary>
    Null = 0x0010,
    /// <summary>TPM_ALG_SM3_256.</summary>
    Sm3_256 = 0x0012,
    /// <summary>TPM_ALG_SM4.</summary>
    Sm4 = 0x0013,
    /// <summary>TPM_ALG_RSASSA (PKCS#1 v1.5 signatures).</summary>
    RsaSsa = 0x0014,
    /// <summary>TPM_ALG_RSAES (PKCS#1 v1.5 encryption).</summary>
    RsaEs = 0x0015,
    /// <summary>TPM_ALG_RSAPSS.</summary>
    RsaPss = 0x0016,
    /// <summary>TPM_ALG_OAEP.</summary>
    Oaep = 0x0017,
    /// <summary>TPM_ALG_ECDSA.</summary>
    EcDsa = 0x0018,
    /// <summary>TPM_ALG_ECDH.</summary>
    EcDh = 0x0019,
    /// <summary>TPM_ALG_ECDAA.</summary>
    EcDaa = 0x001A,
    /// <summary>TPM_ALG_SM2.</summary>
    Sm2 = 0x001B,
    /// <summary>TPM_ALG_ECSCHNORR.</summary>
    EcSchnorr = 0x001C,
    /// <summary>TPM_ALG_ECMQV.</summary>
    EcMqv = 0x001D,
    /// <summary>TPM_ALG_KDF1_SP800_56A.</summary>
    Kdf1Sp800_56A = 0x0020,
    /// <summary>TPM_ALG_KDF2.</summary>
    Kdf2 = 0x0021,
    /// <summary>TPM_ALG_KDF1_SP800_108.</summary>
    Kdf1Sp800_108 = 0x0022,
    /// <summary>TPM_ALG_ECC.</summary>
    Ecc = 0x0023,
    /// <summary>TPM_ALG_SYMCIPHER.</summary>
    SymCipher = 0x0025,
    /// <summary>TPM_ALG_CAMELLIA.</summary>
    Camellia = 0x0026,
    /// <summary>TPM_ALG_SHA3_256.</summary>
    Sha3_256 = 0x0027,
    /// <summary>TPM_ALG_SHA3_384.</summary>
    Sha3_384 = 0x0028,
    /// <summary>TPM_ALG_SHA3_512.</summary>
    Sha3_512 = 0x0029,
    /// <summary>TPM_ALG_CTR.</summary>
    Ctr = 0x0040,
    /// <summary>TPM_ALG_OFB.</summary>
    Ofb = 0x0041,
    /// <summary>TPM_ALG_CBC.</summary>
    Cbc = 0x0042,
    /// <summary>TPM_ALG_CFB.</summary>
    Cfb = 0x0043,
    /// <summary>TPM_ALG_ECB.</summary>
    Ecb = 0x0044,
}
