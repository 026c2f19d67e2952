namespace OpenHgs.Crypto;

/// <summary>How a store holds a key.</summary>
public enum KeyCustodyKind
{
    /// <summary>A PKCS#11 token object: its attributes (<see cref="TokenKeyAttributes"/>) say whether the key can leave the token.</summary>
    Token,

    /// <summary>The software store: a file in the data folder, sealed with AES-256-GCM, opened in this process's memory to be used.</summary>
    Software,

    /// <summary>The store holds no key (key pair or MAC key) under the label.</summary>
    Missing,

    /// <summary>The store could not be asked (a cluster member down, a token error): nothing is known.</summary>
    Unavailable,
}

/// <summary>What a key object may be used for, as the token reports it (CKA_SIGN, CKA_DECRYPT, …).</summary>
[Flags]
public enum KeyOperations
{
    None = 0,
    Sign = 1,
    Verify = 2,
    Decrypt = 4,
    Encrypt = 8,
    Unwrap = 16,
    Wrap = 32,
    Derive = 64,
    SignRecover = 128,
}

/// <summary>
/// The attributes of a PKCS#11 key object that decide whether its secret can leave the token; null where the token does
/// not report one (no such attribute for the object's class, or the token withholds it).
/// </summary>
/// <param name="Token">CKA_TOKEN: a token object, not a session object.</param>
/// <param name="Private">CKA_PRIVATE: only a logged-in user sees it.</param>
/// <param name="Sensitive">CKA_SENSITIVE: its secret value is never returned in clear.</param>
/// <param name="AlwaysSensitive">CKA_ALWAYS_SENSITIVE: it was sensitive from its creation on (PKCS#11 sets this, no caller can).</param>
/// <param name="Extractable">CKA_EXTRACTABLE: it can be exported wrapped under another key.</param>
/// <param name="NeverExtractable">CKA_NEVER_EXTRACTABLE: it was never extractable (set by the token, no caller can).</param>
/// <param name="Local">CKA_LOCAL: generated on the token (not imported or unwrapped into it).</param>
/// <param name="Modifiable">CKA_MODIFIABLE: its attributes can still be changed.</param>
/// <param name="Operations">What the token lets it do.</param>
public sealed record TokenKeyAttributes(
    bool? Token,
    bool? Private,
    bool? Sensitive,
    bool? AlwaysSensitive,
    bool? Extractable,
    bool? NeverExtractable,
    bool? Local,
    bool? Modifiable,
    KeyOperations Operations);

/// <summary>
/// One store's account of how it holds a key: for a PKCS#11 token, one entry per object under the label (two private
/// keys of one label are two entries); for a cluster, the entries of every member.
/// </summary>
/// <param name="Label">The key's label.</param>
/// <param name="Holder">Which store answered, e.g. <c>m2: pkcs11 token 'fabric' …</c> (never a PIN).</param>
/// <param name="Kind">How it is held.</param>
/// <param name="Attributes">The token's attributes (for <see cref="KeyCustodyKind.Token"/> only).</param>
/// <param name="Problem">Why the store could not be asked (for <see cref="KeyCustodyKind.Unavailable"/>).</param>
public sealed record KeyCustody(string Label, string Holder, KeyCustodyKind Kind, TokenKeyAttributes? Attributes = null, string? Problem = null);
