using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.Guardians;

/// <summary>The public key types guardian certificates may hold.</summary>
internal enum GuardianKeyType
{
    /// <summary>Anything else: another algorithm, another curve, or RSA outside 2048–8192 bits. Never used.</summary>
    Unsupported,

    /// <summary>RSA of 2048 to 8192 bits: signing (RS256) and encryption (RSA-OAEP) certificates.</summary>
    Rsa,

    /// <summary>ECDSA on NIST P-256 (named curve): signing certificates only (ES256).</summary>
    EcP256,
}

/// <summary>How an ECDSA signature is encoded: DER <c>SEQUENCE {r, s}</c> in X.509, IEEE P1363 <c>r‖s</c> in JWS.</summary>
internal enum EcdsaEncoding : byte
{
    Der = 1,
    P1363 = 2,
}

/// <summary>
/// One guardian certificate, parsed once: the parts the checks need (DER, subject public key, to-be-signed bytes,
/// signature and its algorithm). Immutable, so one instance serves every thread. Only public material.
/// </summary>
/// <remarks>
/// The certificate's public key is handed out through <see cref="LeaseKey"/> from <see cref="PublicKeyPool.Shared"/>:
/// importing a public key costs ≈0.13 ms in OpenSSL 3, many times the verification it is imported for.
/// </remarks>
internal sealed class ParsedCertificate
{
    internal ParsedCertificate(byte[] der, byte[] subjectPublicKeyInfo, GuardianKeyType keyType, int? rsaKeyBits, byte[] tbsCertificate, byte[] signature, CertificateSignatureAlgorithm? signatureAlgorithm)
    {
        Der = der;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        KeyType = keyType;
        RsaKeyBits = rsaKeyBits;
        TbsCertificate = tbsCertificate;
        Signature = signature;
        SignatureAlgorithm = signatureAlgorithm;
    }

    public byte[] Der { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>The key type, <see cref="GuardianKeyType.Unsupported"/> for anything this format does not accept.</summary>
    public GuardianKeyType KeyType { get; }

    /// <summary>The RSA key size when the key is RSA of an accepted size (2048–8192 bits), else null.</summary>
    public int? RsaKeyBits { get; }

    public bool HasAcceptedRsaKey => KeyType == GuardianKeyType.Rsa;

    /// <summary>True for an accepted signing key: RSA 2048–8192 or EC P-256.</summary>
    public bool HasAcceptedSigningKey => KeyType is GuardianKeyType.Rsa or GuardianKeyType.EcP256;

    public byte[] TbsCertificate { get; }

    public byte[] Signature { get; }

    /// <summary>
    /// The accepted signature algorithm (RSASSA-PKCS1-v1_5 or ECDSA, with SHA-2; inner and outer algorithm the same),
    /// else null.
    /// </summary>
    public CertificateSignatureAlgorithm? SignatureAlgorithm { get; }

    /// <summary>A public-only key of this certificate for the caller alone until the lease is disposed.</summary>
    /// <exception cref="InvalidOperationException">The certificate has no accepted key (check <see cref="KeyType"/>).</exception>
    public PublicKeyLease LeaseKey()
    {
        if (KeyType == GuardianKeyType.Unsupported)
        {
            throw new InvalidOperationException("The certificate has no accepted key.");
        }

        return PublicKeyPool.Shared.Lease(SubjectPublicKeyInfo);
    }
}

/// <summary>A certificate signature algorithm this code accepts: the key type that makes it and its hash.</summary>
internal sealed record CertificateSignatureAlgorithm(GuardianKeyType KeyType, HashAlgorithmName Hash);
