using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>
/// An attestation signer as <see cref="HealthCertificateIssuer"/> uses it: its ECDSA key (normally in the key store)
/// and what every health certificate takes from the signer's certificate — the issuer name and the authority key
/// identifier — read once here instead of once per certificate. Immutable and safe to share between threads: build
/// one per signer certificate and keep it while that signer is in force. It does not own (dispose) the key.
/// </summary>
/// <remarks>
/// Health certificates are signed ecdsa-with-SHA256, whatever the curve (as <c>X509SignatureGenerator.CreateForECDsa</c>
/// did with SHA-256): attestation signers are generated EC P-256 and <c>FabricKey.ECDsa</c> refuses other key types.
/// </remarks>
public sealed class HealthCertificateSigner
{
    /// <summary>AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758 §3.2).</summary>
    private static readonly byte[] EcdsaWithSha256 = EncodeAlgorithm("1.2.840.10045.4.3.2");

    /// <param name="certificate">The signer's certificate; its public key must be <paramref name="key"/>'s.</param>
    /// <param name="key">The signer's private key (an HSM-backed <c>KeyStoreECDsa</c> in the service).</param>
    /// <exception cref="CryptographicException">The certificate is not an EC certificate for <paramref name="key"/>, or has no subject key identifier.</exception>
    public HealthCertificateSigner(X509Certificate2 certificate, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(key);

        // Once per signer, so a certificate paired with the wrong key fails here, not as certificates nobody can verify.
        using (var certificateKey = certificate.GetECDsaPublicKey())
        {
            if (certificateKey is null)
            {
                throw new CryptographicException(
                    $"Health certificates are signed with ECDSA; the attestation signer certificate '{certificate.Subject}' has a {certificate.PublicKey.Oid.Value} key.");
            }

            if (!certificateKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CryptographicException($"The signing key is not the public key of the attestation signer certificate '{certificate.Subject}'.");
            }
        }

        Key = key;
        IssuerName = (byte[])certificate.SubjectName.RawData.Clone();
        AuthorityKeyIdentifier = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false).RawData;
    }

    internal ECDsa Key { get; }

    /// <summary>The signer certificate's subject, DER: the health certificates' issuer.</summary>
    internal byte[] IssuerName { get; }

    /// <summary>The authorityKeyIdentifier extension's value (keyIdentifier only: the signer's subject key identifier).</summary>
    internal byte[] AuthorityKeyIdentifier { get; }

    /// <summary>The signature AlgorithmIdentifier, DER (in the TBSCertificate and around the signature).</summary>
    internal static ReadOnlySpan<byte> SignatureAlgorithm => EcdsaWithSha256;

    /// <summary>The DER (RFC 3279) ECDSA signature over SHA-256 of <paramref name="toBeSigned"/>: one private-key operation.</summary>
    internal byte[] Sign(ReadOnlySpan<byte> toBeSigned)
    {
        // SignHash, not SignData: a key-store ECDsa signs a digest we computed (r‖s from the store, made DER by .NET).
        return Key.SignHash(SHA256.HashData(toBeSigned), DSASignatureFormat.Rfc3279DerSequence);
    }

    private static byte[] EncodeAlgorithm(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
        }

        return writer.Encode();
    }
}
