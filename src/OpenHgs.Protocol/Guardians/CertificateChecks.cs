using System.Security.Cryptography;
using OpenHgs.Crypto;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.X509;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// The certificate checks shared by guardian metadata and key protector verification. Every check fails
/// closed: anything that does not parse or verify counts as "no".
/// </summary>
/// <remarks>
/// <para>BouncyCastle parses the DER (and hands out the to-be-signed bytes); keys and signatures are handled by .NET.
/// BouncyCastle's own <c>GetPublicKey()</c> is avoided on purpose: it runs a Miller–Rabin test on every RSA
/// modulus (~20 ms of CPU each), which would make key protector verification cost ~100× more than the RSA
/// operations it exists for.</para>
/// <para>Parsed certificates and successful signature verifications are memoised process-wide, keyed by the SHA-256 of
/// every input that decides them (certificate DER; signer key, hash algorithm, data and signature). Both are pure
/// functions of those bytes, so a hit answers exactly what a fresh check would, and the memo is not a setting anyone
/// can change. It exists because a key release meets the same few guardian certificates and endorsements on every
/// request: parsing and key import were most of a release's CPU before (see docs/design-changes.md). Failures are
/// never remembered, and the memo is bounded.</para>
/// </remarks>
internal static class CertificateChecks
{
    public const int MaxCertificateBytes = 16 * 1024;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 8192;

    private const string RsaEncryptionOid = "1.2.840.113549.1.1.1";
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string P256CurveOid = "1.2.840.10045.3.1.7";

    // Certificate signature algorithms accepted for guardian certificates: RSASSA-PKCS1-v1_5 with SHA-2 (parameters
    // NULL or absent) and ECDSA with SHA-2 (parameters absent, RFC 5758). The key type must be the issuer's.
    private static readonly Dictionary<string, CertificateSignatureAlgorithm> SignatureAlgorithms = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.11"] = new(GuardianKeyType.Rsa, HashAlgorithmName.SHA256), // sha256WithRSAEncryption
        ["1.2.840.113549.1.1.12"] = new(GuardianKeyType.Rsa, HashAlgorithmName.SHA384), // sha384WithRSAEncryption
        ["1.2.840.113549.1.1.13"] = new(GuardianKeyType.Rsa, HashAlgorithmName.SHA512), // sha512WithRSAEncryption
        ["1.2.840.10045.4.3.2"] = new(GuardianKeyType.EcP256, HashAlgorithmName.SHA256), // ecdsa-with-SHA256
        ["1.2.840.10045.4.3.3"] = new(GuardianKeyType.EcP256, HashAlgorithmName.SHA384), // ecdsa-with-SHA384
        ["1.2.840.10045.4.3.4"] = new(GuardianKeyType.EcP256, HashAlgorithmName.SHA512), // ecdsa-with-SHA512
    };

    private static readonly BoundedMemo<ParsedCertificate> Certificates = new(4096);
    private static readonly BoundedMemo<bool> VerifiedSignatures = new(16384);

    /// <summary>Parsed certificates held now.</summary>
    internal static int CertificatesHeld => Certificates.Count;

    /// <summary>Remembered signature verifications held now.</summary>
    internal static int VerifiedSignaturesHeld => VerifiedSignatures.Count;

    /// <summary>
    /// Empties both memos. Only for the fuzz harness: a hit skips parsing or verification, so each input must start
    /// from empty memos to take the same path every time.
    /// </summary>
    internal static void ClearMemos()
    {
        Certificates.Clear();
        VerifiedSignatures.Clear();
    }

    /// <summary>
    /// Parses a single DER certificate; null if the bytes are empty, too large, not X.509, PEM, BER, or carry
    /// trailing data (the re-encoding must equal the input exactly).
    /// </summary>
    public static ParsedCertificate? TryParse(byte[]? der)
    {
        if (der is null || der.Length == 0 || der.Length > MaxCertificateBytes)
        {
            return null;
        }

        var key = ContentHash.Of(der);
        if (Certificates.TryGet(key, out var known) && known.Der.AsSpan().SequenceEqual(der))
        {
            return known;
        }

        var parsed = Parse(der);
        if (parsed is not null)
        {
            Certificates.Add(key, parsed);
        }

        return parsed;
    }

    /// <summary>
    /// True if <paramref name="certificate"/> is signed by <paramref name="issuer"/>'s key with an accepted algorithm of
    /// that key's type: RSASSA-PKCS1-v1_5 with SHA-2 for an RSA issuer, ECDSA (DER signature) with SHA-2 for a P-256 one.
    /// </summary>
    public static bool IsSignedBy(ParsedCertificate certificate, ParsedCertificate issuer) =>
        certificate.SignatureAlgorithm is { } algorithm && algorithm.KeyType == issuer.KeyType
        && Verify(issuer, certificate.TbsCertificate, certificate.Signature, algorithm.Hash, EcdsaEncoding.Der, remember: true);

    /// <summary>
    /// True if <paramref name="signature"/> is <paramref name="signer"/>'s signature over <paramref name="data"/> with
    /// <paramref name="hash"/>: RSASSA-PKCS1-v1_5 for an RSA key, ECDSA encoded as <paramref name="ecdsaEncoding"/> for a
    /// P-256 key. With <paramref name="remember"/>, a success is memoised (for signatures that recur: endorsements,
    /// certificates); leave it off for one-off data such as payloads.
    /// </summary>
    public static bool Verify(ParsedCertificate signer, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, HashAlgorithmName hash, EcdsaEncoding ecdsaEncoding, bool remember)
    {
        if (!signer.HasAcceptedSigningKey || signature.Length > MaxRsaBits / 8)
        {
            return false;
        }

        ContentHash key = default;
        if (remember)
        {
            key = SignatureKey(signer, data, signature, hash, ecdsaEncoding);
            if (VerifiedSignatures.TryGet(key, out _))
            {
                return true;
            }
        }

        bool valid;
        using (var lease = signer.LeaseKey())
        {
            try
            {
                valid = lease.Key switch
                {
                    RSA rsa => rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1),
                    ECDsa ec => ec.VerifyData(data, signature, hash, ecdsaEncoding == EcdsaEncoding.Der
                        ? DSASignatureFormat.Rfc3279DerSequence
                        : DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                    _ => false,
                };
            }
            catch (CryptographicException)
            {
                valid = false; // fail closed
            }
        }

        if (valid && remember)
        {
            VerifiedSignatures.Add(key, true);
        }

        return valid;
    }

    /// <summary>
    /// True if <paramref name="certificate"/> (DER) parses, holds an accepted key, and that key is <paramref name="key"/>'s.
    /// Reads only the public key (its SubjectPublicKeyInfo), so it works for HSM-backed keys. RSA keys are compared by
    /// modulus and exponent in managed code, without an OpenSSL export of the parameters (≈0.15 ms each in OpenSSL 3);
    /// EC keys by their SubjectPublicKeyInfo bytes (named curve, uncompressed point, as .NET and the key stores write
    /// them; any other encoding fails closed).
    /// </summary>
    public static bool CertificateHasKey(byte[] certificate, AsymmetricAlgorithm key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var parsed = TryParse(certificate);
        return (parsed?.KeyType, key) switch
        {
            (GuardianKeyType.Rsa, RSA rsa) => SubjectPublicKeyInfoReader.SameRsaKey(rsa.ExportSubjectPublicKeyInfo(), parsed!.SubjectPublicKeyInfo),
            (GuardianKeyType.EcP256, ECDsa ec) => ec.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(parsed!.SubjectPublicKeyInfo),
            _ => false,
        };
    }

    private static ParsedCertificate? Parse(byte[] der)
    {
        X509Certificate certificate;
        try
        {
            certificate = new X509CertificateParser().ReadCertificate(der);
            if (certificate is null || !certificate.GetEncoded().AsSpan().SequenceEqual(der))
            {
                return null;
            }

            var structure = certificate.CertificateStructure;
            var spki = structure.SubjectPublicKeyInfo;
            byte[] spkiDer = spki.GetDerEncoded();
            string keyOid = spki.Algorithm.Algorithm.Id;
            int? rsaBits = keyOid == RsaEncryptionOid ? AcceptedRsaKeyBits(spkiDer) : null;
            var keyType = rsaBits is not null ? GuardianKeyType.Rsa
                : keyOid == EcPublicKeyOid && IsP256Key(spkiDer) ? GuardianKeyType.EcP256
                : GuardianKeyType.Unsupported;
            var algorithm = structure.SignatureAlgorithm;
            CertificateSignatureAlgorithm? signatureAlgorithm = SignatureAlgorithms.TryGetValue(algorithm.Algorithm.Id, out var accepted)
                && (algorithm.Parameters is null || (algorithm.Parameters is Asn1Null && accepted.KeyType == GuardianKeyType.Rsa))
                && algorithm.Equals(structure.TbsCertificate.Signature)
                ? accepted
                : null;
            return new ParsedCertificate(der.ToArray(), spkiDer, keyType, rsaBits, certificate.GetTbsCertificate(), certificate.GetSignature(), signatureAlgorithm);
        }
        catch (Exception)
        {
            return null; // fail closed: any parser failure means "not a certificate"
        }
    }

    private static int? AcceptedRsaKeyBits(byte[] spki)
    {
        using var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(spki, out int read);
            return read == spki.Length && rsa.KeySize is >= MinRsaBits and <= MaxRsaBits ? rsa.KeySize : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    /// <summary>True for an EC SubjectPublicKeyInfo on the named curve P-256 whose point imports (is on the curve).</summary>
    private static bool IsP256Key(byte[] spki)
    {
        using var ec = ECDsa.Create();
        try
        {
            ec.ImportSubjectPublicKeyInfo(spki, out int read);
            return read == spki.Length && ec.KeySize == 256 && ec.ExportParameters(false).Curve.Oid?.Value == P256CurveOid;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static ContentHash SignatureKey(ParsedCertificate signer, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, HashAlgorithmName hash, EcdsaEncoding ecdsaEncoding)
    {
        // SHA-256(SHA-256(signer key) ‖ hash id, ECDSA encoding ‖ SHA-256(data) ‖ signature): every input that decides
        // the answer (the encoding only for EC keys: RSA signatures have one).
        Span<byte> buffer = stackalloc byte[(2 * SHA256.HashSizeInBytes) + 1 + (MaxRsaBits / 8) + SHA256.HashSizeInBytes];
        SHA256.HashData(signer.SubjectPublicKeyInfo, buffer);
        buffer[32] = (byte)(HashId(hash) | (signer.KeyType == GuardianKeyType.EcP256 ? (byte)ecdsaEncoding << 4 : 0));
        SHA256.HashData(data, buffer[33..]);
        signature.CopyTo(buffer[65..]);
        return ContentHash.Of(buffer[..(65 + signature.Length)]);
    }

    private static byte HashId(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? (byte)1 : hash == HashAlgorithmName.SHA384 ? (byte)2 : hash == HashAlgorithmName.SHA512 ? (byte)3 : (byte)0;
}
