using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>
/// Verifies a TPMT_SIGNATURE over data with a TPMT_PUBLIC key (RSASSA, RSAPSS, ECDSA). The key is leased from
/// <see cref="PublicKeyPool.Shared"/> by its SubjectPublicKeyInfo: a host's AK signs every quote and certification.
/// </summary>
public static class SignatureVerifier
{
    /// <summary>Hashes accepted for attestation signatures (SHA-1 is refused).</summary>
    public static IReadOnlySet<TpmAlgorithm> AcceptedHashes { get; } =
        new HashSet<TpmAlgorithm> { TpmAlgorithm.Sha256, TpmAlgorithm.Sha384, TpmAlgorithm.Sha512 };

    /// <summary>
    /// Verifies; returns <see cref="VerificationResult.Ok"/>, or <see cref="AttestationFailure.UnsupportedSignature"/>
    /// / <see cref="AttestationFailure.BadSignature"/>. Never throws for bad input.
    /// </summary>
    public static VerificationResult Verify(TpmtPublic key, ReadOnlySpan<byte> data, TpmtSignature signature)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(signature);
        if (!AcceptedHashes.Contains(signature.Hash))
        {
            return VerificationResult.Fail(AttestationFailure.UnsupportedSignature, $"signature hash {signature.Hash.Name()} is not accepted");
        }
        var keyScheme = key.Parameters.Scheme;
        if (keyScheme.Scheme != TpmAlgorithm.Null && (keyScheme.Scheme != signature.SignatureAlgorithm || keyScheme.Hash != signature.Hash))
        {
            return VerificationResult.Fail(AttestationFailure.UnsupportedSignature,
                $"signature {signature.SignatureAlgorithm.Name()}/{signature.Hash.Name()} differs from the key's scheme {keyScheme.Scheme.Name()}/{keyScheme.Hash.Name()}");
        }
        try
        {
            var hash = signature.Hash.ToHashAlgorithmName();
            var ok = (key.Type, signature.SignatureAlgorithm) switch
            {
                (TpmAlgorithm.Rsa, TpmAlgorithm.RsaSsa) => VerifyRsa(key, data, signature.Signature, hash, RSASignaturePadding.Pkcs1),
                (TpmAlgorithm.Rsa, TpmAlgorithm.RsaPss) => VerifyRsa(key, data, signature.Signature, hash, RSASignaturePadding.Pss),
                (TpmAlgorithm.Ecc, TpmAlgorithm.EcDsa) => VerifyEcdsa(key, data, signature, hash),
                _ => (bool?)null,
            };
            return ok switch
            {
                null => VerificationResult.Fail(AttestationFailure.UnsupportedSignature,
                    $"{signature.SignatureAlgorithm.Name()} signature with a {key.Type.Name()} key"),
                false => VerificationResult.Fail(AttestationFailure.BadSignature, "the signature does not verify"),
                true => VerificationResult.Ok,
            };
        }
        catch (Exception e) when (e is CryptographicException or NotSupportedException or ArgumentException)
        {
            return VerificationResult.Fail(AttestationFailure.UnsupportedSignature, e.Message);
        }
    }

    private static bool VerifyRsa(TpmtPublic key, ReadOnlySpan<byte> data, byte[] signature, HashAlgorithmName hash, RSASignaturePadding padding)
    {
        using var lease = PublicKeyPool.Shared.Lease(key.ToSubjectPublicKeyInfo());
        return lease.Rsa.VerifyData(data, signature, hash, padding);
    }

    private static bool VerifyEcdsa(TpmtPublic key, ReadOnlySpan<byte> data, TpmtSignature signature, HashAlgorithmName hash)
    {
        using var lease = PublicKeyPool.Shared.Lease(key.ToSubjectPublicKeyInfo());
        var ecdsa = lease.Ecdsa;
        var fieldSize = (ecdsa.KeySize + 7) / 8;
        if (signature.Signature.Length > fieldSize || signature.S.Length > fieldSize)
        {
            return false;
        }
        var ieee = new byte[2 * fieldSize];
        signature.Signature.CopyTo(ieee, fieldSize - signature.Signature.Length);
        signature.S.CopyTo(ieee, 2 * fieldSize - signature.S.Length);
        return ecdsa.VerifyData(data, ieee, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }
}
