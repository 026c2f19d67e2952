namespace OpenHgs.Protocol.KeyProtection;

/// <summary>Why a key protector, or an operation on one, was refused. Safe to return to the caller: it names no key material.</summary>
public enum KeyProtectorError
{
    /// <summary>Not the key protector format: bad JSON, unknown or missing member, bad base64url, bad certificate, bad length.</summary>
    Malformed,

    /// <summary>Larger than 256 KiB, or more than 64 wrappings.</summary>
    Oversized,

    /// <summary>A <c>version</c> other than 1.</summary>
    UnsupportedVersion,

    /// <summary>An algorithm name the format does not allow where it appears, or a key that is not RSA 2048–8192.</summary>
    UnsupportedAlgorithm,

    /// <summary>No wrapping, or more than one, has a null <c>parentId</c>.</summary>
    NoOwner,

    /// <summary>Two wrappings share an id or an encryption certificate.</summary>
    DuplicateWrapping,

    /// <summary>A wrapping's endorsement does not verify under its parent's signing key, or its parent chain is broken (missing parent, cycle).</summary>
    EndorsementInvalid,

    /// <summary>A wrapping's encryption certificate is not signed by that wrapping's signing certificate key.</summary>
    EncryptionCertificateNotSignedByGuardian,

    /// <summary>The guardian signature over the payload does not verify.</summary>
    GuardianSignatureInvalid,

    /// <summary>The guardian signature names no wrapping of this key protector, or the signing key is not that wrapping's.</summary>
    GuardianSignerUnknown,

    /// <summary>The HMAC of the payload under the transport key does not match.</summary>
    TransportKeySignatureInvalid,

    /// <summary>The transport key is not 32 bytes, or a wrapped key does not decrypt.</summary>
    TransportKeyInvalid,

    /// <summary>No wrapping for the named guardian (or key).</summary>
    NotGrantedToGuardian,

    /// <summary>The guardian presented as the owner is not this key protector's owner.</summary>
    OwnerKeyMismatch,

    /// <summary>A wrapping for this guardian's certificates already exists.</summary>
    AlreadyGranted,

    /// <summary>Revoking would remove the owner's own wrapping.</summary>
    CannotRevokeOwner,
}

/// <summary>A key protector was refused; <see cref="Error"/> is the reason, the message the detail.</summary>
/// <remarks>Messages name wrappings and guardians, never key material.</remarks>
public sealed class KeyProtectorException : Exception
{
    public KeyProtectorException(KeyProtectorError error, string message)
        : base(message)
    {
        Error = error;
    }

    public KeyProtectorException(KeyProtectorError error, string message, Exception inner)
        : base(message, inner)
    {
        Error = error;
    }

    public KeyProtectorError Error { get; }
}
