namespace OpenHgs.Crypto;

/// <summary>
/// Optional key store capability: HMAC-SHA256 under a secret key that lives in the store (PKCS#11: a 32-byte
/// CKK_GENERIC_SECRET token object, CKM_SHA256_HMAC through C_Sign). The service MACs its security-relevant database
/// rows with it, so whoever can write the database but not use the store cannot forge or move a row.
/// </summary>
/// <remarks>
/// Security contract: the MAC key is generated inside the store and never crosses this interface (PKCS#11:
/// CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, sign/verify only); callers see only MACs and compare
/// them in constant time themselves. A store (or a cluster of stores) reports <see cref="CanAuthenticateRecords"/>
/// true only when it really can: probed when it opened, and for a cluster only when every member can.
/// </remarks>
public interface IRecordAuthenticator
{
    /// <summary>True when the store can create MAC keys and compute HMAC-SHA256 with them (probed, not assumed).</summary>
    bool CanAuthenticateRecords { get; }

    /// <summary>Generates a new 32-byte MAC key labelled <paramref name="label"/> inside the store; fails if the label exists.</summary>
    void CreateMacKey(string label);

    /// <summary>True when the store holds a MAC key labelled <paramref name="label"/> (asks the store, not a cache).</summary>
    bool HasMacKey(string label);

    /// <summary>Destroys the MAC key (undoing a creation that could not complete). Returns false when there was none.</summary>
    bool DeleteMacKey(string label);

    /// <summary>HMAC-SHA256 of <paramref name="data"/> with the MAC key <paramref name="label"/>; <see cref="KeyNotFoundInStoreException"/> when there is none.</summary>
    byte[] ComputeMac(string label, byte[] data);
}

/// <summary>Finds the record authenticator of a store.</summary>
public static class RecordAuthentication
{
    /// <summary>The store's <see cref="IRecordAuthenticator"/> when it has one that works, else null.</summary>
    public static IRecordAuthenticator? AsRecordAuthenticator(this IKeyStore store) =>
        store is IRecordAuthenticator { CanAuthenticateRecords: true } authenticator ? authenticator : null;
}
