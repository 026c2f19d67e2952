namespace OpenHgs.Protocol.Guardians;

/// <summary>Why a guardian document (metadata or private owner file) was refused.</summary>
public enum GuardianFormatError
{
    /// <summary>Not JSON, a member of the wrong type, a repeated member.</summary>
    Malformed,

    /// <summary>The document is larger than the format allows (64 KiB).</summary>
    Oversized,

    /// <summary>The <c>kind</c> member names another document type.</summary>
    WrongKind,

    /// <summary>The <c>version</c> member is not one this code understands.</summary>
    UnsupportedVersion,

    /// <summary>A required member is absent.</summary>
    MissingField,

    /// <summary>A member the format does not define is present.</summary>
    UnknownField,

    /// <summary>The guardian name is empty, too long, or has control characters or outer whitespace.</summary>
    InvalidName,

    /// <summary>A binary member is not canonical base64.</summary>
    InvalidBase64,

    /// <summary>A certificate is not a single DER-encoded X.509 certificate.</summary>
    InvalidCertificate,

    /// <summary>A certificate's key is not RSA of 2048 to 8192 bits.</summary>
    UnsupportedKey,

    /// <summary>The signing certificate is not self-signed (by its own key, RSASSA-PKCS1-v1_5 with SHA-2).</summary>
    SigningCertificateNotSelfSigned,

    /// <summary>The encryption certificate is not signed by the signing certificate's key (RSASSA-PKCS1-v1_5 with SHA-2).</summary>
    EncryptionCertificateNotSignedBySigningCertificate,

    /// <summary>A wrap algorithm other than <c>RSA-OAEP-256</c> or <c>RSA-OAEP</c>.</summary>
    UnknownWrapAlgorithm,

    /// <summary>The wrap algorithm list is empty or names an algorithm twice.</summary>
    InvalidWrapAlgorithms,

    /// <summary>A private key is not a readable PKCS#8 RSA key.</summary>
    InvalidPrivateKey,

    /// <summary>A private key does not belong to the certificate it is paired with.</summary>
    KeyMismatch,
}

/// <summary>A guardian document was refused; <see cref="Error"/> says why, the message says where.</summary>
public sealed class GuardianFormatException : Exception
{
    public GuardianFormatException(GuardianFormatError error, string message)
        : base(message)
    {
        Error = error;
    }

    public GuardianFormatException(GuardianFormatError error, string message, Exception inner)
        : base(message, inner)
    {
        Error = error;
    }

    public GuardianFormatError Error { get; }
}
