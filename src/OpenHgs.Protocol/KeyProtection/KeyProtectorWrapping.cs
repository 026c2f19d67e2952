namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// One guardian's access to a key protector: its certificates, the endorsement that chains it to the owner, and
/// the transport key wrapped to its encryption certificate.
/// </summary>
/// <param name="Id">Unique within the key protector: 1 to 64 base64url characters (16 random bytes when this code makes it).</param>
/// <param name="ParentId">The wrapping whose signing key endorsed this one; null for the owner, which endorses itself.</param>
/// <param name="GuardianName">The guardian's name (covered by the endorsement).</param>
/// <param name="SigningCertificate">DER; its key verifies the endorsements of this wrapping's children and, when named, the guardian signature.</param>
/// <param name="EncryptionCertificate">DER; signed by <paramref name="SigningCertificate"/>'s key; the transport key is wrapped to it.</param>
/// <param name="Endorsement">RS256 by the parent's signing key over <see cref="KeyProtectorEndorsement.GetSignedBytes(KeyProtectorWrapping)"/>; <see cref="KeyProtectorSignature.WrappingId"/> is null (the endorser is <paramref name="ParentId"/>).</param>
/// <param name="WrappedKey">The transport key encrypted to <paramref name="EncryptionCertificate"/>.</param>
/// <remarks>Treat the arrays as read-only; the signed truth is <see cref="KeyProtector.Payload"/>.</remarks>
public sealed record KeyProtectorWrapping(
    string Id,
    string? ParentId,
    string GuardianName,
    byte[] SigningCertificate,
    byte[] EncryptionCertificate,
    KeyProtectorSignature Endorsement,
    WrappedKey WrappedKey)
{
    /// <summary>True for the owner's wrapping (no parent).</summary>
    public bool IsOwner => ParentId is null;
}

/// <summary>A transport key encrypted with <paramref name="Algorithm"/> (<c>RSA-OAEP-256</c> or <c>RSA-OAEP</c>).</summary>
public sealed record WrappedKey(string Algorithm, byte[] Value);

/// <summary>
/// A signature in a key protector. <paramref name="WrappingId"/> names the signer for the guardian signature and
/// is null for endorsements and the transport-key signature.
/// </summary>
public sealed record KeyProtectorSignature(string? WrappingId, string Algorithm, byte[] Value);
