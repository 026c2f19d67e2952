using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.Wire;

/// <summary>
/// A signature scheme of host-key evidence (over <see cref="HostKeyEvidenceMessage.Build"/>): ES256, ES384 or RS256. Which one
/// a host uses follows its signing key (<see cref="HostSigningKeys.Judge"/>), never a setting, so the host's client and the
/// attestation service cannot disagree.
/// </summary>
public sealed record HostEvidenceSignature
{
    private readonly RSASignaturePadding? _rsaPadding;

    private HostEvidenceSignature(string name, HashAlgorithmName hash, RSASignaturePadding? rsaPadding)
    {
        Name = name;
        Hash = hash;
        _rsaPadding = rsaPadding;
    }

    /// <summary>ECDSA on P-256 with SHA-256, r‖s.</summary>
    public static HostEvidenceSignature Es256 { get; } = new("ES256", HashAlgorithmName.SHA256, rsaPadding: null);

    /// <summary>ECDSA on P-384 with SHA-384, r‖s.</summary>
    public static HostEvidenceSignature Es384 { get; } = new("ES384", HashAlgorithmName.SHA384, rsaPadding: null);

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256.</summary>
    public static HostEvidenceSignature Rs256 { get; } = new("RS256", HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    /// <summary>The JOSE name (<c>ES256</c>, <c>ES384</c>, <c>RS256</c>).</summary>
    public string Name { get; }

    public HashAlgorithmName Hash { get; }

    /// <summary>Signs <paramref name="message"/> with <paramref name="key"/>, which must be the kind this scheme signs with.</summary>
    /// <exception cref="ArgumentException">An RSA key for an ECDSA scheme or the other way round.</exception>
    public byte[] Sign(AsymmetricAlgorithm key, ReadOnlySpan<byte> message)
    {
        ArgumentNullException.ThrowIfNull(key);
        return (key, _rsaPadding) switch
        {
            (RSA rsa, { } padding) => rsa.SignData(message, Hash, padding),
            (ECDsa ec, null) => ec.SignData(message, Hash),
            _ => throw new ArgumentException($"{Name} is not signed with a {key.SignatureAlgorithm ?? key.GetType().Name} key.", nameof(key)),
        };
    }

    /// <summary>Whether <paramref name="signature"/> is this scheme's signature of <paramref name="message"/> by <paramref name="key"/>; false for a key of the other kind.</summary>
    public bool Verify(AsymmetricAlgorithm key, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        ArgumentNullException.ThrowIfNull(key);
        return (key, _rsaPadding) switch
        {
            (RSA rsa, { } padding) => rsa.VerifyData(message, signature, Hash, padding),
            (ECDsa ec, null) => ec.VerifyData(message, signature, Hash),
            _ => false,
        };
    }

    public override string ToString() => Name;
}

/// <summary>The rule's answer for one host signing key: the scheme it signs evidence with, or why it is refused.</summary>
public sealed record HostSigningKeyVerdict
{
    private HostSigningKeyVerdict(HostEvidenceSignature? signature, bool malformed, string? refusal)
    {
        Signature = signature;
        IsMalformed = malformed;
        Refusal = refusal;
    }

    /// <summary>The scheme the key signs with; null when it is refused.</summary>
    public HostEvidenceSignature? Signature { get; }

    /// <summary>Refused because the DER does not read as an RSA or EC key (rather than reading as a key of the wrong kind or size).</summary>
    public bool IsMalformed { get; }

    /// <summary>Why the key is refused, a sentence naming what was found (the curve, the size); null when it is accepted.</summary>
    public string? Refusal { get; }

    [MemberNotNullWhen(true, nameof(Signature))]
    [MemberNotNullWhen(false, nameof(Refusal))]
    public bool IsAccepted => Signature is not null;

    internal static HostSigningKeyVerdict Accepted(HostEvidenceSignature signature) => new(signature, malformed: false, refusal: null);

    internal static HostSigningKeyVerdict Unsupported(string refusal) => new(signature: null, malformed: false, refusal);

    internal static HostSigningKeyVerdict Malformed() => new(signature: null, malformed: true, "not an RSA or EC SubjectPublicKeyInfo.");
}

/// <summary>
/// The one rule for which host signing keys the attestation service accepts, and how each signs its evidence: ECDSA on the
/// named curve P-256 (ES256) or P-384 (ES384) — judged by the curve OID the SubjectPublicKeyInfo names, never by the key
/// size (design change 61) — or RSA of at least <see cref="MinimumRsaBits"/> bits (RS256). The service registers and
/// verifies by it; the host's client generates, loads and signs by it (design change 65).
/// </summary>
public static class HostSigningKeys
{
    public const int MinimumRsaBits = 2048;

    // The accepted verdicts are made once: Judge runs before every host-key signature verification.
    private static readonly HostSigningKeyVerdict AcceptedEs256 = HostSigningKeyVerdict.Accepted(HostEvidenceSignature.Es256);
    private static readonly HostSigningKeyVerdict AcceptedEs384 = HostSigningKeyVerdict.Accepted(HostEvidenceSignature.Es384);
    private static readonly HostSigningKeyVerdict AcceptedRs256 = HostSigningKeyVerdict.Accepted(HostEvidenceSignature.Rs256);

    /// <summary>
    /// Judges a DER SubjectPublicKeyInfo by reading it (strict DER, no key import: microseconds, on every attestation). An
    /// accepted key's point or modulus is not checked here; importing it does that.
    /// </summary>
    public static HostSigningKeyVerdict Judge(ReadOnlyMemory<byte> subjectPublicKeyInfo)
    {
        try
        {
            switch (SubjectPublicKeyInfoReader.ReadAlgorithm(subjectPublicKeyInfo))
            {
                case SubjectPublicKeyInfoReader.RsaEncryptionOid:
                    int bits = SubjectPublicKeyInfoReader.ModulusBits(SubjectPublicKeyInfoReader.ReadRsa(subjectPublicKeyInfo).Modulus);
                    return bits >= MinimumRsaBits
                        ? AcceptedRs256
                        : HostSigningKeyVerdict.Unsupported($"RSA keys must be at least {MinimumRsaBits} bits, not {bits}.");
                case SubjectPublicKeyInfoReader.EcPublicKeyOid:
                    string? curve = SubjectPublicKeyInfoReader.ReadEcNamedCurve(subjectPublicKeyInfo);
                    return curve switch
                    {
                        SubjectPublicKeyInfoReader.P256CurveOid => AcceptedEs256,
                        SubjectPublicKeyInfoReader.P384CurveOid => AcceptedEs384,
                        _ => HostSigningKeyVerdict.Unsupported($"EC keys must be on P-256 or P-384, not {DescribeCurve(curve)}."),
                    };
                default:
                    return HostSigningKeyVerdict.Malformed();
            }
        }
        catch (CryptographicException)
        {
            return HostSigningKeyVerdict.Malformed();
        }
    }

    /// <summary>
    /// A refused curve for a message: its OID, with a name for a few well-known ones. The OID may come from a request, so
    /// a long one is cut (it is digits and dots only, as the DER reader writes it).
    /// </summary>
    private static string DescribeCurve(string? curve)
    {
        if (curve is null)
        {
            return "explicit or implicit curve parameters (a named curve is required)";
        }

        string shown = curve.Length <= 64 ? curve : curve[..64] + "…";
        return CurveName(curve) is { } name ? $"{shown} ({name})" : shown;
    }

    private static string? CurveName(string oid) => oid switch
    {
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.33" => "P-224",
        "1.3.132.0.35" => "P-521",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        _ => null,
    };
}
