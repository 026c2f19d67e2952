namespace OpenHgs.Protocol.KeyProtection;

/// <summary>
/// A parsed key protector (KP): one VM's 256-bit transport key (TK), wrapped for several guardians.
/// </summary>
/// <remarks>
/// <para>
/// Wire form (UTF-8 JSON): <c>{"version":1|2, "payload":b64url(bytes), "guardianSignature":{"wrappingId","alg":"RS256"|"ES256","value"},
/// "transportKeySignature":{"alg":"HS256","value"}}</c>, where the payload bytes are the UTF-8 JSON
/// <c>{"wrappings":[...]}</c>. Both signatures cover the exact payload bytes, so there is nothing to canonicalise.
/// Version 1 is the RS256 format; version 2 differs only in that the guardian signature is ES256 (by an EC P-256
/// signing key). Each guardian signature algorithm has exactly one version (<see cref="VersionFor"/>).
/// See <c>docs/key-protector.md</c>.
/// </para>
/// <para>
/// Security contract: an instance is structurally sound — within the size limits, every member present with
/// the right type and algorithm, strict base64url, every certificate one DER X.509, wrapping ids and encryption
/// certificates unique, exactly one owner, every parent present and no cycles, the guardian signer present — but
/// NOT authenticated. Call <see cref="KeyProtectorVerifier.VerifySignatures"/> (and, once the TK is known,
/// <see cref="KeyProtectorVerifier.VerifyTransportKey"/>) before trusting anything in it. Instances are
/// immutable; treat the arrays inside the records as read-only.
/// </para>
/// </remarks>
public sealed class KeyProtector
{
    /// <summary>The oldest format version read: RS256 guardian signature.</summary>
    public const int MinVersion = 1;

    /// <summary>The newest format version: ES256 guardian signature (version 1 is still read and written for RS256).</summary>
    public const int CurrentVersion = 2;

    /// <summary>Largest key protector accepted or produced, in bytes of JSON.</summary>
    public const int MaxBytes = 256 * 1024;

    /// <summary>Most wrappings a key protector may hold.</summary>
    public const int MaxWrappings = 64;

    private readonly byte[] _payload;
    private volatile bool _signaturesVerified;

    internal KeyProtector(byte[] payload, IReadOnlyList<KeyProtectorWrapping> wrappings, KeyProtectorSignature guardianSignature, KeyProtectorSignature transportKeySignature)
    {
        _payload = payload;
        Wrappings = wrappings.ToArray().AsReadOnly();
        GuardianSignature = guardianSignature;
        TransportKeySignature = transportKeySignature;
        Owner = KeyProtectorStructure.Check(Wrappings, guardianSignature.WrappingId);
    }

    /// <summary>The format version: 1 when the guardian signature is RS256, 2 when it is ES256.</summary>
    public int Version => VersionFor(GuardianSignature.Algorithm);

    /// <summary>
    /// True once <see cref="KeyProtectorVerifier.VerifySignatures"/> succeeded on this instance (or the builder made it
    /// from one that had, with only its own new signature added and checked). The instance is immutable, so the answer
    /// cannot change — provided nobody wrote to the arrays inside its records, which the class remarks forbid.
    /// </summary>
    public bool SignaturesVerified => _signaturesVerified;

    /// <summary>The format version a key protector whose guardian signature is <paramref name="guardianSignatureAlgorithm"/> has.</summary>
    /// <exception cref="ArgumentException">Not a guardian signature algorithm.</exception>
    public static int VersionFor(string guardianSignatureAlgorithm) => guardianSignatureAlgorithm switch
    {
        KeyProtectorAlgorithms.RS256 => 1,
        KeyProtectorAlgorithms.ES256 => 2,
        _ => throw new ArgumentException($"'{guardianSignatureAlgorithm}' is not a guardian signature algorithm.", nameof(guardianSignatureAlgorithm)),
    };

    /// <summary>The exact signed payload bytes (UTF-8 JSON of the wrappings).</summary>
    public ReadOnlyMemory<byte> Payload => _payload;

    /// <summary>The wrappings, in payload order; the owner's is among them.</summary>
    public IReadOnlyList<KeyProtectorWrapping> Wrappings { get; }

    /// <summary>RS256 or ES256 (as the signer's key type says) over <see cref="Payload"/> by the signing key of the wrapping <see cref="KeyProtectorSignature.WrappingId"/> names.</summary>
    public KeyProtectorSignature GuardianSignature { get; }

    /// <summary>HS256 (HMAC-SHA256 keyed by the transport key) over <see cref="Payload"/>.</summary>
    public KeyProtectorSignature TransportKeySignature { get; }

    /// <summary>The single wrapping without a parent.</summary>
    public KeyProtectorWrapping Owner { get; }

    /// <summary>Parses a key protector, checking structure only (see the class remarks).</summary>
    /// <exception cref="KeyProtectorException">Oversized, Malformed, UnsupportedVersion, UnsupportedAlgorithm, NoOwner, DuplicateWrapping, EndorsementInvalid (broken parent chain) or GuardianSignerUnknown.</exception>
    public static KeyProtector Parse(ReadOnlySpan<byte> json) => KeyProtectorJson.Read(json);

    internal void MarkSignaturesVerified() => _signaturesVerified = true;

    /// <summary>The wire form, UTF-8 JSON. The payload is carried byte for byte as parsed or signed.</summary>
    public byte[] ToJson() => KeyProtectorJson.WriteEnvelope(_payload, GuardianSignature, TransportKeySignature);

    /// <summary>The wrapping whose encryption certificate is exactly <paramref name="certificateDer"/>, or null.</summary>
    public KeyProtectorWrapping? FindWrappingForEncryptionCertificate(ReadOnlySpan<byte> certificateDer)
    {
        foreach (var wrapping in Wrappings)
        {
            if (certificateDer.SequenceEqual(wrapping.EncryptionCertificate))
            {
                return wrapping;
            }
        }

        return null;
    }

    /// <summary>The first wrapping for the guardian named <paramref name="name"/> (ordinal comparison), or null.</summary>
    public KeyProtectorWrapping? FindWrappingForGuardian(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Wrappings.FirstOrDefault(w => string.Equals(w.GuardianName, name, StringComparison.Ordinal));
    }

    /// <summary>The wrapping with this id, or null.</summary>
    public KeyProtectorWrapping? FindWrapping(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return Wrappings.FirstOrDefault(w => string.Equals(w.Id, id, StringComparison.Ordinal));
    }
}
