using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// Authenticates a parsed key protector. The key protection service runs <see cref="VerifySignatures"/> before it
/// unwraps anything, and <see cref="VerifyTransportKey"/> on the transport key it unwrapped.
/// </summary>
/// <remarks>
/// Security contract: <see cref="VerifySignatures"/> returning means every wrapping is endorsed, directly or
/// through its ancestors, by the owner's signing key (endorsements are RS256, so every endorser's signing key is RSA);
/// every encryption certificate is signed by its own
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
    /// payload order, that the signing certificate holds an RSA 2048–8192 or EC P-256 key, the encryption certificate an
    /// RSA 2048–8192 key, and the encryption certificate is signed by the signing certificate's key; for each wrapping,
    /// its endorsement (RS256) under its parent's signing key (the owner's under its own), which must be RSA; last, the
    /// guardian signature over the payload under the named wrapping's key, whose <c>alg</c> must be the one that key's
    /// type makes (RS256 for RSA, ES256 for P-256). On success the instance remembers it (see <see cref="VerifyOnce"/>).
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
            var endorserId = wrapping.ParentId ?? wrapping.Id;
            var endorser = signers[endorserId];
            if (!endorser.HasAcceptedRsaKey)
            {
                // Endorsements stay RS256: a guardian with an EC signing key (a KPS) signs payloads, never endorsements.
                throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm,
                    $"Wrapping '{wrapping.Id}' ({wrapping.GuardianName}) is endorsed by wrapping '{endorserId}', whose signing key is EC; endorsements are {KeyProtectorAlgorithms.RS256} by RSA signing keys only.");
            }

            RequireAlgorithm(wrapping.Endorsement.Algorithm, KeyProtectorAlgorithms.RS256);
            if (!KeyProtectorCrypto.VerifySignature(endorser, KeyProtectorAlgorithms.RS256, KeyProtectorEndorsement.GetSignedBytes(wrapping), wrapping.Endorsement.Value, remember: true))
            {
                throw new KeyProtectorException(KeyProtectorError.EndorsementInvalid, wrapping.IsOwner
                    ? $"The owner wrapping '{wrapping.Id}' ({wrapping.GuardianName}) is not endorsed by its own signing key."
                    : $"Wrapping '{wrapping.Id}' ({wrapping.GuardianName}) is not endorsed by its parent '{wrapping.ParentId}'.");
            }
        }

        VerifyGuardianSignature(kp, signers[kp.GuardianSignature.WrappingId!]);
        kp.MarkSignaturesVerified();
    }

    /// <summary>
    /// <see cref="VerifySignatures"/> unless this very instance already passed it (a key protector is immutable, so the
    /// answer cannot have changed): how a release verifies the incoming key protector once, not again when rolling it.
    /// </summary>
    /// <exception cref="KeyProtectorException">As <see cref="VerifySignatures"/>.</exception>
    public static void VerifyOnce(KeyProtector kp)
    {
        ArgumentNullException.ThrowIfNull(kp);
        if (!kp.SignaturesVerified)
        {
            VerifySignatures(kp);
        }
    }

    /// <summary>
    /// The guardian signature over the payload under <paramref name="signer"/> (the named wrapping's signing certificate):
    /// its <c>alg</c> must be the one the key's type makes, and it must verify. The payload changes with every roll, so this
    /// is verified every time, never memoised.
    /// </summary>
    /// <exception cref="KeyProtectorException">UnsupportedAlgorithm (alg and key type disagree), GuardianSignatureInvalid.</exception>
    internal static void VerifyGuardianSignature(KeyProtector kp, ParsedCertificate signer)
    {
        var signature = kp.GuardianSignature;
        string? expected = KeyProtectorAlgorithms.SignatureAlgorithmFor(signer.KeyType);
        if (signature.Algorithm != expected)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm,
                $"The guardian signature is {signature.Algorithm}, but the signing key of wrapping '{signature.WrappingId}' is {signer.KeyType}, which signs {expected ?? "nothing"}.");
        }

        if (!KeyProtectorCrypto.VerifySignature(signer, signature.Algorithm, kp.Payload.Span, signature.Value, remember: false))
        {
            throw new KeyProtectorException(KeyProtectorError.GuardianSignatureInvalid, $"The guardian signature by wrapping '{signature.WrappingId}' does not verify over the payload.");
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
        if (!signing.HasAcceptedSigningKey)
        {
            throw new KeyProtectorException(KeyProtectorError.UnsupportedAlgorithm, $"Wrapping '{wrapping.Id}': the signing key is neither RSA of {CertificateChecks.MinRsaBits} to {CertificateChecks.MaxRsaBits} bits nor EC P-256.");
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
