using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// Authenticates a parsed key protector. The key protection service runs <see cref="VerifySignatures"/> before it
/// unwraps anything, and <see cref="VerifyTransportKey"/> on the transport key it unwrapped.
/// </summary>
/// <remarks>
/// Security contract: <see cref="VerifySignatures"/> returning means every wrapping is endorsed, directly or
/// through its ancestors, by the owner's signing key; every encryption certificate is signed by its own
/// wrapping's signing key; and the payload is signed by one of those endorsed guardians. It does not mean any
/// particular guardian may unwrap: that is whether a wrapping for its encryption certificate exists. Certificate
/// validity dates are not checked (guardian certificates are identities, not time-bounded credentials).
/// </remarks>
public static class KeyProtectorVerifier
{
    /// <summary>Length of a transport key in bytes (256 bits).</summary>
    public const int TransportKeyBytes = 32;

    /// <summary>
    /// Checks, in this order: the parent graph (single owner, parents present, no cycles); for each wrapping in
    /// payload order, that both certificates hold RSA 2048–8192 keys and the encryption certificate is signed by
    /// the signing certificate's key; for each wrapping, its endorsement under its parent's signing key (the
    /// owner's under its own); last, the guardian signature over the payload under the named wrapping's key.
    /// </summary>
    /// <exception cref="KeyProtectorException">NoOwner, EndorsementInvalid, UnsupportedAlgorithm, EncryptionCertificateNotSignedByGuardian, GuardianSignerUnknown, GuardianSignatureInvalid, Malformed.</exception>
    public static void VerifySignatures(KeyProtector kp)
    {
        ArgumentNullException.ThrowIfNull(kp);
        KeyProtectorStructure.Check(kp.Wrappings, kp.GuardianSignature.WrappingId);
        var signers = new Dictionary<string, ParsedCertificate>(StringComparer.Ordinal);
        foreach (var wrapping in kp.Wrappings)
        {
            signers.Add(wrapping.Id, CheckCertificates(wrapping));
        }

        foreach (var wrapping in kp.Wrappings)
        {
            RequireAlgorithm(wrapping.Endorsement.Algorithm, KeyProtectorAlgorithms.RS256);
            var endorser = signers[wrapping.ParentId ?? wrapping.Id];
            if (!KeyProtectorCrypto.VerifyRs256(endorser, KeyProtectorEndorsement.GetSignedBytes(wrapping), wrapping.Endorsement.Value, remember: true))
            {
                throw new KeyProtectorException(KeyProtectorError.EndorsementInvalid, wrapping.IsOwner
                    ? $"The owner wrapping '{wrapping.Id}' ({wrapping.GuardianName}) is not endorsed by its own signing key."
                    : $"Wrapping '{wrapping.Id}' ({wrapping.GuardianName}) is not endorsed by its parent '{wrapping.ParentId}'.");
            }
        }

        // The payload changes with every roll: verified every time, never memoised.
        RequireAlgorithm(kp.GuardianSignature.Algorithm, KeyProtectorAlgorithms.RS256);
        if (!KeyProtectorCrypto.VerifyRs256(signers[kp.GuardianSignature.WrappingId!], kp.Payload.Span, kp.GuardianSignature.Value, remember: false))
        {
            throw new KeyProtectorException(KeyProtectorError.GuardianSignatureInvalid, $"The guardian signature by wrapping '{kp.GuardianSignature.WrappingId}' does not verify over the payload.");
        }
    }

    /// <summary>
    /// Checks that <paramref name="transportKey"/> is 32 bytes and that HMAC-SHA256 under it over the payload
    /// equals the transport-key signature (constant-time comparison).
    /// </summary>
    /// <exception cref="KeyProtectorException">TransportKeyInvalid (length) or TransportKeySignatureInvalid.</exception>
    public static void VerifyTransportKey(KeyProtector kp, ReadOnlySpan<byte> transportKey)
    {
        ArgumentNullException.ThrowIfNull(kp);
        if (transportKey.Length != TransportKeyBytes)
        {
            throw new KeyProtectorException(KeyProtectorError.TransportKeyInvalid, $"A transport key is {TransportKeyBytes} bytes, not {transportKey.Length}.");
        }

        RequireAlgorithm(kp.TransportKeySignature.Algorithm, KeyProtectorAlgorithms.HS256);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(transportKey, kp.Payload.Span, mac);
        bool matches = CryptographicOperations.FixedTimeEquals(mac, kp.TransportKeySignature.Value);
        CryptographicOperations.ZeroMemory(mac);
        if (!matches)
        {
            throw new KeyProtectorException(KeyProtectorError.TransportKeySignatureInvalid, "The transport-key signature does not match this transport key and payload.");
        }
    }

    private static ParsedCertificate CheckCertificates(KeyProtectorWrapping wrapping)
    {
        var signing = CertificateChecks.TryParse(wrapping.SigningCertificate)
            ?? throw new KeyProtectorException(KeyProtectorError.Malformed, $"Wrapping '{wrapping.Id}': the signing certificate does not parse.");
        var encryption = CertificateChecks.TryParse(wrapping.EncryptionCertificate)
            ?? throw new KeyProtectorException(KeyProtectorError.Malformed, $"Wrapping '{wrapping.Id}': the encryption certificate does not parse.");
        if (!signing.HasAcceptedRsaKey)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Wrapping '{wrapping.Id}': the signing key is not RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits.");
        }

        if (!encryption.HasAcceptedRsaKey)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Wrapping '{wrapping.Id}': the encryption key is not RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits.");
        }

        if (!CertificateChecks.IsSignedBy(encryption, signing))
        {
            throw new KeyProtectorException(KeyProtectorError.EncryptionCertificateNotSignedByGuardian, $"Wrapping '{wrapping.Id}' ({wrapping.GuardianName}): the encryption certificate is not signed by the wrapping's signing key.");
        }

        return signing;
    }

    private static void RequireAlgorithm(string algorithm, string expected)
    {
        if (algorithm != expected)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Algorithm '{algorithm}' where only '{expected}' is allowed.");
        }
    }
}
