using Net.Pkcs11Interop.Common;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>How the store reacts to a PKCS#11 return value.</summary>
internal enum Pkcs11FailureKind
{
    /// <summary>The request itself was refused (wrong key, bad data, mechanism not allowed): report it, do not retry.</summary>
    Refused,

    /// <summary>The session (and every other session of this slot) is gone: discard sessions unclosed, re-open, retry once.</summary>
    SessionLost,

    /// <summary>The session is fine but a cached handle or the login is stale: re-open, re-login, re-find, retry once.</summary>
    StaleState,

    /// <summary>The module or token cannot work right now; callers must fail closed.</summary>
    Unavailable,
}

/// <summary>Classifies PKCS#11 failures and turns them into the key store's exceptions.</summary>
/// <remarks>Messages name the operation, the key label and the CKR code only: never PINs, data or key material.</remarks>
internal static class Pkcs11Failures
{
    public static Pkcs11FailureKind Classify(CKR rv) => rv switch
    {
        CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED or CKR.CKR_DEVICE_REMOVED
            or CKR.CKR_TOKEN_NOT_PRESENT or CKR.CKR_DEVICE_ERROR => Pkcs11FailureKind.SessionLost,

        // C_SignInit and C_DecryptInit report a vanished key as KEY_HANDLE_INVALID, the object calls as OBJECT_HANDLE_INVALID.
        CKR.CKR_OBJECT_HANDLE_INVALID or CKR.CKR_KEY_HANDLE_INVALID or CKR.CKR_USER_NOT_LOGGED_IN => Pkcs11FailureKind.StaleState,

        CKR.CKR_CRYPTOKI_NOT_INITIALIZED or CKR.CKR_GENERAL_ERROR or CKR.CKR_FUNCTION_FAILED or CKR.CKR_DEVICE_MEMORY
            or CKR.CKR_HOST_MEMORY or CKR.CKR_SESSION_COUNT or CKR.CKR_TOKEN_NOT_RECOGNIZED => Pkcs11FailureKind.Unavailable,

        _ => Pkcs11FailureKind.Refused,
    };

    public static bool IsRecoverable(CKR rv) => Classify(rv) is Pkcs11FailureKind.SessionLost or Pkcs11FailureKind.StaleState;

    /// <summary>The exception a caller sees for a PKCS#11 failure that retrying did not (or could not) fix.</summary>
    public static Exception Translate(Pkcs11Exception failure, string operation) => Classify(failure.RV) switch
    {
        Pkcs11FailureKind.Refused => new KeyStoreOperationException($"The PKCS#11 token refused to {operation} ({failure.RV}).", failure),
        _ => new KeyStoreUnavailableException($"The PKCS#11 token could not {operation} ({failure.RV}).", failure),
    };
}
