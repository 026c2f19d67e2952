using System.Security.Cryptography;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// Makes and changes key protectors: the tenant's operations (create, grant, revoke, unwrap as owner) and the
/// key protection service's (unwrap for a guardian, roll after a release).
/// </summary>
/// <remarks>
/// <para>
/// Security contract: every operation that starts from an existing key protector verifies it first
/// (<see cref="KeyProtectorVerifier.VerifySignatures"/>, and the transport-key HMAC whenever it learns the TK),
/// and every key protector returned has been parsed back and verified, so nothing this class emits fails
/// verification (this also catches a faulty signature from a misbehaving signer). <see cref="Roll"/> verifies its input
/// once (not again when the caller already did, <see cref="KeyProtectorVerifier.VerifyOnce"/>), and of its output only
/// the new guardian signature: the wrappings, certificates and endorsements are the verified input's, byte for byte.
/// Keys are used only through <see cref="RSA"/>'s and <see cref="ECDsa"/>'s sign/decrypt operations, so they may be
/// HSM-backed. Endorsements and tenant-side signatures are RS256 (owners are RSA); a rolling key protection service may
/// sign ES256 with an EC P-256 key (a version 2 key protector). Plaintext transport keys this class
/// unwraps for its own use are zeroed; ones it returns are the caller's to zero.
/// </para>
/// <para>
/// Grant and revoke do not change the TK: a guardian that unwrapped it before being revoked still knows it
/// until the key protector is rolled (which a key protection service does on each release).
/// </para>
/// </remarks>
public static class KeyProtectorBuilder
{
    /// <summary>
    /// A key protector for <paramref name="transportKey"/> owned by <paramref name="owner"/>, with one wrapping for
    /// the owner (endorsing itself) and one per guardian (endorsed by the owner), each wrapped with the
    /// guardian's preferred algorithm, signed by the owner.
    /// </summary>
    /// <exception cref="KeyProtectorException">TransportKeyInvalid (not 32 bytes), DuplicateWrapping (a guardian twice, or the owner again), Oversized.</exception>
    /// <exception cref="GuardianFormatException">A guardian's metadata is invalid.</exception>
    public static KeyProtector Create(LocalGuardian owner, IEnumerable<GuardianMetadata> guardians, ReadOnlySpan<byte> transportKey)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardians);
        RequireTransportKeyLength(transportKey);
        var guardianList = guardians.ToList();
        if (guardianList.Count + 1 > KeyProtector.MaxWrappings)
        {
            throw new KeyProtectorException(KeyProtectorError.Oversized, $"A key protector has at most {KeyProtector.MaxWrappings} wrappings (the owner and {KeyProtector.MaxWrappings - 1} guardians).");
        }

        string ownerId = KeyProtectorCrypto.NewWrappingId();
        var wrappings = new List<KeyProtectorWrapping> { NewWrapping(ownerId, null, owner.Metadata, owner.SigningKey, transportKey) };
        foreach (var guardian in guardianList)
        {
            ArgumentNullException.ThrowIfNull(guardian, nameof(guardians));
            guardian.Validate();
            if (FindByEncryptionCertificate(wrappings, guardian.EncryptionCertificate) is not null)
            {
                throw new KeyProtectorException(KeyProtectorError.DuplicateWrapping, $"Guardian '{guardian.Name}' appears twice (or is the owner).");
            }

            wrappings.Add(NewWrapping(KeyProtectorCrypto.NewWrappingId(), ownerId, guardian, owner.SigningKey, transportKey));
        }

        return Seal(wrappings, owner.SigningKey, ownerId, transportKey);
    }

    /// <summary>Adds a wrapping for <paramref name="guardian"/>, endorsed and re-signed by the owner. The TK is unchanged.</summary>
    /// <exception cref="KeyProtectorException">Any verification error of <paramref name="kp"/>, OwnerKeyMismatch, AlreadyGranted, DuplicateWrapping, Oversized, TransportKeyInvalid, TransportKeySignatureInvalid.</exception>
    /// <exception cref="GuardianFormatException">The guardian's metadata is invalid.</exception>
    public static KeyProtector Grant(KeyProtector kp, LocalGuardian owner, GuardianMetadata guardian)
    {
        ArgumentNullException.ThrowIfNull(kp);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardian);
        KeyProtectorVerifier.VerifySignatures(kp);
        RequireOwner(kp, owner);
        guardian.Validate();
        if (kp.FindWrappingForEncryptionCertificate(guardian.EncryptionCertificate) is { } existing)
        {
            throw existing.SigningCertificate.AsSpan().SequenceEqual(guardian.SigningCertificate)
                ? new KeyProtectorException(KeyProtectorError.AlreadyGranted, $"Guardian '{guardian.Name}' already has wrapping '{existing.Id}'.")
                : new KeyProtectorException(KeyProtectorError.DuplicateWrapping, $"Wrapping '{existing.Id}' already uses guardian '{guardian.Name}''s encryption certificate.");
        }

        if (kp.Wrappings.Count >= KeyProtector.MaxWrappings)
        {
            throw new KeyProtectorException(KeyProtectorError.Oversized, $"The key protector already has the maximum of {KeyProtector.MaxWrappings} wrappings.");
        }

        byte[] transportKey = UnwrapVerified(kp, kp.Owner, owner.EncryptionKey);
        try
        {
            var wrappings = kp.Wrappings.ToList();
            wrappings.Add(NewWrapping(KeyProtectorCrypto.NewWrappingId(), kp.Owner.Id, guardian, owner.SigningKey, transportKey));
            return Seal(wrappings, owner.SigningKey, kp.Owner.Id, transportKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(transportKey);
        }
    }

    /// <summary>
    /// Removes every wrapping named <paramref name="guardianName"/> (ordinal) and every wrapping descended from
    /// them, re-signed by the owner. The TK is unchanged (see the class remarks).
    /// </summary>
    /// <exception cref="KeyProtectorException">Any verification error of <paramref name="kp"/>, OwnerKeyMismatch, NotGrantedToGuardian, CannotRevokeOwner, TransportKeyInvalid, TransportKeySignatureInvalid.</exception>
    public static KeyProtector Revoke(KeyProtector kp, LocalGuardian owner, string guardianName)
    {
        ArgumentNullException.ThrowIfNull(kp);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(guardianName);
        KeyProtectorVerifier.VerifySignatures(kp);
        RequireOwner(kp, owner);
        var targets = kp.Wrappings.Where(w => string.Equals(w.GuardianName, guardianName, StringComparison.Ordinal)).ToList();
        if (targets.Count == 0)
        {
            throw new KeyProtectorException(KeyProtectorError.NotGrantedToGuardian, $"The key protector has no wrapping for guardian '{guardianName}'.");
        }

        if (targets.Any(w => w.IsOwner))
        {
            throw new KeyProtectorException(KeyProtectorError.CannotRevokeOwner, $"'{guardianName}' is the owner; the owner's wrapping cannot be revoked.");
        }

        var removed = KeyProtectorStructure.WithDescendants(kp.Wrappings, targets.Select(w => w.Id));
        byte[] transportKey = UnwrapVerified(kp, kp.Owner, owner.EncryptionKey);
        try
        {
            return Seal(kp.Wrappings.Where(w => !removed.Contains(w.Id)).ToList(), owner.SigningKey, kp.Owner.Id, transportKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(transportKey);
        }
    }

    /// <summary>
    /// The egress key protector after a release: the same wrappings and endorsements, <paramref name="newTransportKey"/>
    /// wrapped to every wrapping's encryption certificate with that wrapping's algorithm, signed by
    /// <paramref name="signingKey"/> as the wrapping <paramref name="signerWrappingId"/>, with a new HMAC. The input
    /// key protector is verified first and left unchanged.
    /// </summary>
    /// <remarks>
    /// <paramref name="signingKey"/> is RSA (the result is version 1, RS256) or EC P-256 (version 2, ES256): a release costs
    /// the key store one RSA private operation (the unwrap) plus this signature. <paramref name="kp"/> is verified unless
    /// this instance already was (<see cref="KeyProtectorVerifier.VerifyOnce"/>).
    /// </remarks>
    /// <exception cref="KeyProtectorException">Any verification error of <paramref name="kp"/>, TransportKeyInvalid (not 32 bytes), GuardianSignerUnknown (no such wrapping, or its signing certificate is not <paramref name="signingKey"/>'s).</exception>
    /// <exception cref="ArgumentException"><paramref name="signingKey"/> is neither RSA nor EC P-256.</exception>
    public static KeyProtector Roll(KeyProtector kp, ReadOnlySpan<byte> newTransportKey, AsymmetricAlgorithm signingKey, string signerWrappingId)
    {
        ArgumentNullException.ThrowIfNull(kp);
        ArgumentNullException.ThrowIfNull(signingKey);
        ArgumentNullException.ThrowIfNull(signerWrappingId);
        RequireTransportKeyLength(newTransportKey);
        KeyProtectorVerifier.VerifyOnce(kp);
        var signer = kp.FindWrapping(signerWrappingId)
            ?? throw new KeyProtectorException(KeyProtectorError.GuardianSignerUnknown, $"The key protector has no wrapping '{signerWrappingId}' to sign as.");
        if (!CertificateChecks.CertificateHasKey(signer.SigningCertificate, signingKey))
        {
            throw new KeyProtectorException(KeyProtectorError.GuardianSignerUnknown, $"The signing key is not the key of wrapping '{signerWrappingId}''s signing certificate.");
        }

        var wrappings = new List<KeyProtectorWrapping>(kp.Wrappings.Count);
        foreach (var wrapping in kp.Wrappings)
        {
            wrappings.Add(wrapping with { WrappedKey = KeyProtectorCrypto.Wrap(wrapping.EncryptionCertificate, wrapping.WrappedKey.Algorithm, newTransportKey) });
        }

        return Seal(wrappings, signingKey, signerWrappingId, newTransportKey, endorsementsVerified: true);
    }

    /// <summary>The tenant's view: verifies everything and returns the TK from the owner's wrapping. The caller zeroes it.</summary>
    /// <exception cref="KeyProtectorException">Any verification error, OwnerKeyMismatch, TransportKeyInvalid, TransportKeySignatureInvalid.</exception>
    public static byte[] UnwrapAsOwner(KeyProtector kp, LocalGuardian owner)
    {
        ArgumentNullException.ThrowIfNull(kp);
        ArgumentNullException.ThrowIfNull(owner);
        KeyProtectorVerifier.VerifySignatures(kp);
        RequireOwner(kp, owner);
        return UnwrapVerified(kp, kp.Owner, owner.EncryptionKey);
    }

    /// <summary>
    /// A guardian's view (the key protection service's in-memory path): decrypts <paramref name="wrapping"/>'s key
    /// with <paramref name="decryptionKey"/> and checks it against the transport-key signature. It does NOT
    /// verify signatures: call <see cref="KeyProtectorVerifier.VerifySignatures"/> first. The caller zeroes the result.
    /// </summary>
    /// <exception cref="KeyProtectorException">TransportKeyInvalid (does not decrypt, or not 32 bytes), TransportKeySignatureInvalid.</exception>
    /// <exception cref="ArgumentException"><paramref name="wrapping"/> is not one of <paramref name="kp"/>'s.</exception>
    public static byte[] UnwrapTransportKey(KeyProtector kp, KeyProtectorWrapping wrapping, RSA decryptionKey)
    {
        ArgumentNullException.ThrowIfNull(kp);
        ArgumentNullException.ThrowIfNull(wrapping);
        ArgumentNullException.ThrowIfNull(decryptionKey);
        if (!kp.Wrappings.Any(w => ReferenceEquals(w, wrapping)))
        {
            throw new ArgumentException("The wrapping does not belong to this key protector.", nameof(wrapping));
        }

        return UnwrapVerified(kp, wrapping, decryptionKey);
    }

    private static byte[] UnwrapVerified(KeyProtector kp, KeyProtectorWrapping wrapping, RSA decryptionKey)
    {
        byte[] transportKey = KeyProtectorCrypto.Unwrap(decryptionKey, wrapping.WrappedKey);
        try
        {
            KeyProtectorVerifier.VerifyTransportKey(kp, transportKey);
            return transportKey;
        }
        catch
        {
            CryptographicOperations.ZeroMemory(transportKey);
            throw;
        }
    }

    private static KeyProtectorWrapping NewWrapping(string id, string? parentId, GuardianMetadata guardian, RSA endorsingKey, ReadOnlySpan<byte> transportKey)
    {
        byte[] signingCertificate = guardian.SigningCertificate.ToArray();
        byte[] encryptionCertificate = guardian.EncryptionCertificate.ToArray();
        byte[] endorsed = KeyProtectorEndorsement.GetSignedBytes(id, parentId, guardian.Name, signingCertificate, encryptionCertificate);
        return new KeyProtectorWrapping(
            id,
            parentId,
            guardian.Name,
            signingCertificate,
            encryptionCertificate,
            new KeyProtectorSignature(null, KeyProtectorAlgorithms.RS256, KeyProtectorCrypto.SignRs256(endorsingKey, endorsed)),
            KeyProtectorCrypto.Wrap(encryptionCertificate, guardian.PreferredWrapAlgorithm, transportKey));
    }

    /// <summary>
    /// Serialises, signs, parses back and verifies: nothing leaves that would not verify. With
    /// <paramref name="endorsementsVerified"/> (a roll: every wrapping's certificates and endorsement are those of a key
    /// protector that just passed <see cref="KeyProtectorVerifier.VerifySignatures"/>, only the wrapped keys differ), only
    /// the new guardian signature is checked — still enough to catch a faulty signature from the key store before it leaves.
    /// </summary>
    private static KeyProtector Seal(IReadOnlyList<KeyProtectorWrapping> wrappings, AsymmetricAlgorithm signingKey, string signerId, ReadOnlySpan<byte> transportKey, bool endorsementsVerified = false)
    {
        byte[] payload = KeyProtectorJson.WritePayload(wrappings);
        var (algorithm, value) = KeyProtectorCrypto.SignGuardian(signingKey, payload);
        var guardianSignature = new KeyProtectorSignature(signerId, algorithm, value);
        var transportKeySignature = new KeyProtectorSignature(null, KeyProtectorAlgorithms.HS256, KeyProtectorCrypto.Hs256(transportKey, payload));
        var kp = KeyProtector.Parse(KeyProtectorJson.WriteEnvelope(payload, guardianSignature, transportKeySignature));
        if (endorsementsVerified)
        {
            var signer = CertificateChecks.TryParse(kp.FindWrapping(signerId)!.SigningCertificate)
                ?? throw new KeyProtectorException(KeyProtectorError.Malformed, $"Wrapping '{signerId}': the signing certificate does not parse.");
            KeyProtectorVerifier.VerifyGuardianSignature(kp, signer);
            kp.MarkSignaturesVerified();
        }
        else
        {
            KeyProtectorVerifier.VerifySignatures(kp);
        }

        return kp;
    }

    private static void RequireOwner(KeyProtector kp, LocalGuardian owner)
    {
        if (!CertificateChecks.CertificateHasKey(kp.Owner.SigningCertificate, owner.SigningKey) || !CertificateChecks.CertificateHasKey(kp.Owner.EncryptionCertificate, owner.EncryptionKey))
        {
            throw new KeyProtectorException(KeyProtectorError.OwnerKeyMismatch, $"Guardian '{owner.Metadata.Name}' is not the owner of this key protector (the owner is '{kp.Owner.GuardianName}').");
        }
    }

    private static KeyProtectorWrapping? FindByEncryptionCertificate(List<KeyProtectorWrapping> wrappings, byte[] certificate) =>
        wrappings.FirstOrDefault(w => w.EncryptionCertificate.AsSpan().SequenceEqual(certificate));

    private static void RequireTransportKeyLength(ReadOnlySpan<byte> transportKey)
    {
        if (transportKey.Length != KeyProtectorVerifier.TransportKeyBytes)
        {
            throw new KeyProtectorException(KeyProtectorError.TransportKeyInvalid, $"A transport key is {KeyProtectorVerifier.TransportKeyBytes} bytes, not {transportKey.Length}.");
        }
    }
}
