using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text;
using OpenHgs.Crypto;

namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>What the attestation service certifies: the verdict and the host's encryption key (DER SPKI).</summary>
public sealed record HealthCertificateRequest(HealthClaims Claims, byte[] HostEncryptionPublicKey, TimeSpan Validity);

/// <summary>
/// Issues health certificates: X.509 v3 whose subject key is the host's RSA encryption key (key usage
/// keyEncipherment only), signed ecdsa-with-SHA256 by the attestation signer (whose key normally lives in the HSM),
/// serial from a CSPRNG, valid from a few minutes before issue.
/// </summary>
/// <remarks>
/// The DER is written here, not by <c>CertificateRequest</c>: that one loaded every result back into an
/// <c>X509Certificate2</c> (OpenSSL d2i_X509, ≈14 % of an attestation's CPU) and built EC keys and the authority key
/// identifier again per certificate. The bytes are the ones <c>CertificateRequest</c> produced (same field order,
/// string types, time types and extensions; pinned by known-answer tests against it), so nothing changes on the wire:
/// <code>
/// TBSCertificate: version v3, serial (16 random bytes, positive, no leading zero), ecdsa-with-SHA256,
///   issuer = the signer certificate's subject (DER as is), validity (UTCTime through 2049, then GeneralizedTime),
///   subject = CN=host name, O=OpenHGS guarded host (UTF8String; that SEQUENCE order, as X500DistinguishedNameBuilder
///   wrote it), the host's SubjectPublicKeyInfo (DER as received), extensions:
///   basicConstraints cA FALSE (critical), keyUsage keyEncipherment (critical), subjectKeyIdentifier (SHA-1 of the
///   subjectPublicKey bits), authorityKeyIdentifier (the signer's key identifier), the verdict (non-critical).
/// </code>
/// </remarks>
public static class HealthCertificateIssuer
{
    private static readonly byte[] Version3 = [0xA0, 0x03, 0x02, 0x01, 0x02]; // [0] EXPLICIT INTEGER 2
    private static readonly byte[] CommonNameOid = EncodeOid("2.5.4.3");
    private static readonly byte[] OrganizationRdn = EncodeUtf8Rdn("2.5.4.10", "OpenHGS guarded host");
    private static readonly byte[] BasicConstraints = EncodeExtension("2.5.29.19", critical: true, [0x30, 0x00]); // SEQUENCE {}: cA FALSE is DEFAULT, so absent
    private static readonly byte[] KeyUsage = EncodeExtension("2.5.29.15", critical: true, [0x03, 0x02, 0x05, 0x20]); // BIT STRING, keyEncipherment (bit 2) only
    private static readonly byte[] SubjectKeyIdentifierOid = EncodeOid("2.5.29.14");
    private static readonly byte[] AuthorityKeyIdentifierOid = EncodeOid("2.5.29.35");
    private static readonly byte[] VerdictOid = EncodeOid(HealthCertificateProfile.VerdictExtensionOid);
    private static readonly Asn1Tag ExtensionsTag = new(TagClass.ContextSpecific, 3, isConstructed: true);

    /// <exception cref="CryptographicException">The host key is not a DER RSA SubjectPublicKeyInfo of at least 2048 bits, or the signer failed.</exception>
    /// <exception cref="ArgumentException">The host name is empty or not valid UTF-16, or the validity ends before it starts.</exception>
    public static byte[] Issue(HealthCertificateRequest request, HealthCertificateSigner signer)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(request.Claims);
        ArgumentNullException.ThrowIfNull(request.HostEncryptionPublicKey);
        byte[] hostKey = request.HostEncryptionPublicKey;
        ReadOnlyMemory<byte> subjectPublicKey = CheckedSubjectPublicKey(hostKey);
        ArgumentException.ThrowIfNullOrEmpty(request.Claims.HostName); // as X500DistinguishedNameBuilder.AddCommonName
        var issuedAt = request.Claims.IssuedAt;
        var notBefore = issuedAt - HealthCertificateProfile.NotBeforeSkew;
        var notAfter = issuedAt + request.Validity;
        if (notAfter < notBefore)
        {
            throw new ArgumentException("The health certificate's validity ends before it starts.", nameof(request));
        }

        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive INTEGER
        serial[0] |= 0x01; // and no leading zero byte

        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 1024);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(Version3);
            writer.WriteInteger(serial);
            writer.WriteEncodedValue(HealthCertificateSigner.SignatureAlgorithm);
            writer.WriteEncodedValue(signer.IssuerName);
            using (writer.PushSequence())
            {
                WriteTime(writer, notBefore);
                WriteTime(writer, notAfter);
            }

            WriteSubject(writer, request.Claims.HostName);
            writer.WriteEncodedValue(hostKey); // checked to be exactly one DER SubjectPublicKeyInfo
            using (writer.PushSequence(ExtensionsTag))
            using (writer.PushSequence())
            {
                writer.WriteEncodedValue(BasicConstraints);
                writer.WriteEncodedValue(KeyUsage);
                WriteExtension(writer, SubjectKeyIdentifierOid, SubjectKeyIdentifier(subjectPublicKey.Span));
                WriteExtension(writer, AuthorityKeyIdentifierOid, signer.AuthorityKeyIdentifier);
                WriteExtension(writer, VerdictOid, HealthCertificateProfile.EncodeVerdict(request.Claims));
            }
        }

        byte[] tbs = writer.Encode();
        byte[] signature = signer.Sign(tbs);
        writer.Reset();
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(tbs);
            writer.WriteEncodedValue(HealthCertificateSigner.SignatureAlgorithm);
            writer.WriteBitString(signature);
        }

        return writer.Encode();
    }

    /// <summary>
    /// The subjectPublicKey bits of a DER rsaEncryption SubjectPublicKeyInfo of at least 2048 bits (read from the DER,
    /// not imported into OpenSSL: ≈0.13 ms per attestation for a size check).
    /// </summary>
    private static ReadOnlyMemory<byte> CheckedSubjectPublicKey(byte[] subjectPublicKeyInfo)
    {
        int bits;
        try
        {
            // Strict DER and exactly one structure, so the SPKI can be copied into the certificate as it is.
            bits = SubjectPublicKeyInfoReader.ModulusBits(SubjectPublicKeyInfoReader.ReadRsa(subjectPublicKeyInfo).Modulus);
        }
        catch (CryptographicException)
        {
            bits = 0;
        }

        if (bits < 2048)
        {
            throw new CryptographicException("The host encryption key must be RSA of at least 2048 bits.");
        }

        var info = new AsnReader(subjectPublicKeyInfo, AsnEncodingRules.DER).ReadSequence();
        info.ReadEncodedValue(); // algorithm
        return info.TryReadPrimitiveBitString(out _, out var key) ? key : throw new CryptographicException("The host encryption key's bits are not a primitive BIT STRING.");
    }

    /// <summary>RFC 5280 §4.1.2.5: UTCTime for dates through 2049, GeneralizedTime (whole seconds) from 2050.</summary>
    private static void WriteTime(AsnWriter writer, DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        if (utc.Year is >= 1950 and < 2050)
        {
            writer.WriteUtcTime(utc);
        }
        else
        {
            writer.WriteGeneralizedTime(utc, omitFractionalSeconds: true);
        }
    }

    /// <summary>Name ::= SEQUENCE { SET { CN=host }, SET { O=OpenHGS guarded host } }, UTF8String values.</summary>
    private static void WriteSubject(AsnWriter writer, string hostName)
    {
        using (writer.PushSequence())
        {
            using (writer.PushSetOf())
            using (writer.PushSequence())
            {
                writer.WriteEncodedValue(CommonNameOid);
                try
                {
                    writer.WriteCharacterString(UniversalTagNumber.UTF8String, hostName);
                }
                catch (EncoderFallbackException)
                {
                    throw new ArgumentException("The host name is not valid UTF-16 (lone surrogate).", nameof(hostName));
                }
            }

            writer.WriteEncodedValue(OrganizationRdn);
        }
    }

    /// <summary>subjectKeyIdentifier value: OCTET STRING of the SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1).</summary>
    private static byte[] SubjectKeyIdentifier(ReadOnlySpan<byte> subjectPublicKey)
    {
        byte[] value = new byte[2 + SHA1.HashSizeInBytes];
        value[0] = 0x04;
        value[1] = SHA1.HashSizeInBytes;
        SHA1.HashData(subjectPublicKey, value.AsSpan(2));
        return value;
    }

    /// <summary>A non-critical Extension (critical FALSE is DEFAULT, so absent in DER).</summary>
    private static void WriteExtension(AsnWriter writer, byte[] encodedOid, ReadOnlySpan<byte> value)
    {
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(encodedOid);
            writer.WriteOctetString(value);
        }
    }

    private static byte[] EncodeExtension(string oid, bool critical, byte[] value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(value);
        }

        return writer.Encode();
    }

    private static byte[] EncodeUtf8Rdn(string oid, string value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSetOf())
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            writer.WriteCharacterString(UniversalTagNumber.UTF8String, value);
        }

        return writer.Encode();
    }

    private static byte[] EncodeOid(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteObjectIdentifier(oid);
        return writer.Encode();
    }
}
