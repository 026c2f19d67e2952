using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Tpm.Verification;

/// <summary>Why a CRL could not be read.</summary>
public enum RevocationListProblem
{
    /// <summary>The bytes are not a DER X.509 CRL (RFC 5280 §5.1), or a mandatory field (nextUpdate) is missing.</summary>
    Malformed,

    /// <summary>
    /// A well-formed CRL this reader does not process: a delta or indirect CRL, a CRL or entry extension marked critical that
    /// is not understood, or a signature algorithm other than RSA PKCS#1 v1.5 or ECDSA with SHA-256/384/512.
    /// </summary>
    Unsupported,
}

/// <summary>A CRL that could not be read, with what is wrong.</summary>
public sealed class RevocationListException(RevocationListProblem problem, string message) : Exception(message)
{
    public RevocationListProblem Problem { get; } = problem;
}

/// <summary>One revoked certificate of a CRL: its serial number (the DER INTEGER's content octets, hex) and when it was revoked.</summary>
public sealed record RevokedCertificate(string SerialNumber, DateTimeOffset RevokedAt);

/// <summary>
/// A complete X.509 v2 CRL (RFC 5280 §5), read with <see cref="AsnReader"/>: issuer, thisUpdate, nextUpdate, CRL number and
/// the revoked serial numbers. Only what a TPM manufacturer publishes for its EK certificates is accepted: a complete CRL for
/// the certificates its issuer signed. A delta CRL (deltaCRLIndicator), an indirect CRL (certificateIssuer entries, or an
/// issuingDistributionPoint saying so) or any other critical extension is refused rather than half understood, since a
/// critical extension means "do not use this CRL unless you process this". nextUpdate is required (RFC 5280 §5.1.2.5: a
/// CRL without one never goes stale, which a revocation check that fails closed on stale CRLs cannot use).
/// </summary>
public sealed class RevocationList
{
    private const string CrlNumberOid = "2.5.29.20";
    private const string DeltaCrlIndicatorOid = "2.5.29.27";
    private const string IssuingDistributionPointOid = "2.5.29.28";
    private const string AuthorityKeyIdentifierOid = "2.5.29.35";
    private const string ReasonCodeOid = "2.5.29.21";
    private const string InvalidityDateOid = "2.5.29.24";

    /// <summary>Signature algorithms verified: RSA PKCS#1 v1.5 and ECDSA, with SHA-256, SHA-384 or SHA-512 (never SHA-1).</summary>
    private static readonly Dictionary<string, (bool Rsa, HashAlgorithmName Hash)> Algorithms = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.11"] = (true, HashAlgorithmName.SHA256),
        ["1.2.840.113549.1.1.12"] = (true, HashAlgorithmName.SHA384),
        ["1.2.840.113549.1.1.13"] = (true, HashAlgorithmName.SHA512),
        ["1.2.840.10045.4.3.2"] = (false, HashAlgorithmName.SHA256),
        ["1.2.840.10045.4.3.3"] = (false, HashAlgorithmName.SHA384),
        ["1.2.840.10045.4.3.4"] = (false, HashAlgorithmName.SHA512),
    };

    private readonly byte[] _signedPart;
    private readonly byte[] _signature;
    private readonly (bool Rsa, HashAlgorithmName Hash) _algorithm;
    private readonly Dictionary<string, RevokedCertificate> _revoked;

    private RevocationList(byte[] rawData, byte[] signedPart, byte[] signature, (bool, HashAlgorithmName) algorithm, X500DistinguishedName issuer,
        DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, BigInteger? number, Dictionary<string, RevokedCertificate> revoked)
    {
        RawData = rawData;
        _signedPart = signedPart;
        _signature = signature;
        _algorithm = algorithm;
        Issuer = issuer;
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
        Number = number;
        _revoked = revoked;
    }

    /// <summary>The DER encoding of the CRL.</summary>
    public byte[] RawData { get; }

    /// <summary>The CRL's issuer name (compared byte for byte with the issuing certificate's subject).</summary>
    public X500DistinguishedName Issuer { get; }

    public DateTimeOffset ThisUpdate { get; }

    public DateTimeOffset NextUpdate { get; }

    /// <summary>The cRLNumber extension (RFC 5280 §5.2.3), or null when the CRL has none.</summary>
    public BigInteger? Number { get; }

    /// <summary>The CRL number as lower-case hex (empty when there is none): what is stored and shown.</summary>
    public string NumberText => Number is { } n ? Convert.ToHexStringLower(n.ToByteArray(isUnsigned: true, isBigEndian: true)) : string.Empty;

    /// <summary>How many certificates the CRL revokes.</summary>
    public int RevokedCount => _revoked.Count;

    /// <summary>Reads a DER CRL.</summary>
    /// <exception cref="RevocationListException">The bytes are not a CRL this reader accepts (<see cref="RevocationListException.Problem"/> says why).</exception>
    public static RevocationList Parse(byte[] der)
    {
        ArgumentNullException.ThrowIfNull(der);
        try
        {
            return ParseCore(der);
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException or ArgumentException or OverflowException)
        {
            throw new RevocationListException(RevocationListProblem.Malformed, $"not a DER X.509 CRL ({ex.Message})");
        }
    }

    /// <summary>The entry revoking the certificate with <paramref name="serialNumber"/> (DER INTEGER content octets), or null.</summary>
    public RevokedCertificate? Find(ReadOnlySpan<byte> serialNumber) =>
        _revoked.GetValueOrDefault(Convert.ToHexString(serialNumber));

    /// <summary>True when <paramref name="issuer"/> issued this CRL: its subject is the CRL's issuer and its key verifies the signature.</summary>
    public bool IsIssuedBy(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        return issuer.SubjectName.RawData.AsSpan().SequenceEqual(Issuer.RawData) && SignatureVerifies(issuer);
    }

    /// <summary>True when the CRL's signature verifies with <paramref name="issuer"/>'s public key.</summary>
    public bool SignatureVerifies(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        try
        {
            if (_algorithm.Rsa)
            {
                using var rsa = issuer.GetRSAPublicKey();
                return rsa is not null && rsa.VerifyData(_signedPart, _signature, _algorithm.Hash, RSASignaturePadding.Pkcs1);
            }

            using var ecdsa = issuer.GetECDsaPublicKey();
            return ecdsa is not null && ecdsa.VerifyData(_signedPart, _signature, _algorithm.Hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static RevocationList ParseCore(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certificateList = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        byte[] signedPart = certificateList.PeekEncodedValue().ToArray();
        var tbs = certificateList.ReadSequence();
        string outerAlgorithm = ReadAlgorithm(certificateList);
        byte[] signature = certificateList.ReadBitString(out int unused);
        certificateList.ThrowIfNotEmpty();
        if (unused != 0)
        {
            throw new AsnContentException("the signature is not a whole number of octets");
        }

        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            // A v1 CRL has no version field and no extensions: no CRL number, so no rollback check; RFC 5280 CRLs are v2.
            throw new RevocationListException(RevocationListProblem.Unsupported, "the CRL is version 1; RFC 5280 CRLs are version 2");
        }

        if (tbs.ReadInteger() != 1)
        {
            throw new RevocationListException(RevocationListProblem.Malformed, "the CRL's version is not 2");
        }

        string innerAlgorithm = ReadAlgorithm(tbs);
        if (innerAlgorithm != outerAlgorithm)
        {
            throw new RevocationListException(RevocationListProblem.Malformed, "the signature algorithm inside the CRL differs from the one outside");
        }

        if (!Algorithms.TryGetValue(outerAlgorithm, out var algorithm))
        {
            throw new RevocationListException(RevocationListProblem.Unsupported, $"the signature algorithm {outerAlgorithm} is not supported (RSA PKCS#1 v1.5 or ECDSA with SHA-256/384/512)");
        }

        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        var thisUpdate = ReadTime(tbs);
        if (!tbs.HasData || !IsTime(tbs.PeekTag()))
        {
            throw new RevocationListException(RevocationListProblem.Malformed, "the CRL has no nextUpdate (RFC 5280 §5.1.2.5 requires one)");
        }

        var nextUpdate = ReadTime(tbs);
        var revoked = new Dictionary<string, RevokedCertificate>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                string serial = Convert.ToHexString(entry.ReadIntegerBytes().Span);
                var revokedAt = ReadTime(entry);
                if (entry.HasData)
                {
                    ReadExtensions(entry.ReadSequence(), EntryExtension);
                }

                entry.ThrowIfNotEmpty();
                revoked.TryAdd(serial, new RevokedCertificate(serial, revokedAt));
            }
        }

        BigInteger? number = null;
        if (tbs.HasData)
        {
            var wrapper = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
            ReadExtensions(wrapper.ReadSequence(), (oid, value) =>
            {
                if (oid == CrlNumberOid)
                {
                    var reader = new AsnReader(value, AsnEncodingRules.DER);
                    number = reader.ReadInteger();
                    reader.ThrowIfNotEmpty();
                    if (number < 0)
                    {
                        throw new RevocationListException(RevocationListProblem.Malformed, "the CRL number is negative");
                    }

                    return true;
                }

                return oid is AuthorityKeyIdentifierOid;
            });
            wrapper.ThrowIfNotEmpty();
        }

        tbs.ThrowIfNotEmpty();
        return new RevocationList(der.ToArray(), signedPart, signature, algorithm, issuer, thisUpdate, nextUpdate, number, revoked);
    }

    /// <summary>Reads extensions; a critical one <paramref name="understood"/> does not process is refused.</summary>
    private static void ReadExtensions(AsnReader extensions, Func<string, byte[], bool> understood)
    {
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            string oid = extension.ReadObjectIdentifier();
            bool critical = extension.HasData && extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            byte[] value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            bool processed = understood(oid, value);
            if (oid is DeltaCrlIndicatorOid)
            {
                throw new RevocationListException(RevocationListProblem.Unsupported, "the CRL is a delta CRL; import the complete CRL");
            }

            if (critical && !processed)
            {
                throw new RevocationListException(RevocationListProblem.Unsupported,
                    oid is IssuingDistributionPointOid
                        ? "the CRL is partitioned or indirect (a critical issuingDistributionPoint); import the complete CRL of the issuer"
                        : $"the CRL has the critical extension {oid}, which is not processed");
            }
        }
    }

    /// <summary>Entry extensions read: the reason and invalidity date (informational); certificateIssuer (indirect CRLs, always critical) is not.</summary>
    private static bool EntryExtension(string oid, byte[] value) => oid is ReasonCodeOid or InvalidityDateOid;

    private static string ReadAlgorithm(AsnReader reader)
    {
        var algorithm = reader.ReadSequence();
        string oid = algorithm.ReadObjectIdentifier();
        if (algorithm.HasData)
        {
            algorithm.ReadNull(); // RSA PKCS#1 v1.5 carries NULL parameters; ECDSA none
        }

        algorithm.ThrowIfNotEmpty();
        return oid;
    }

    private static bool IsTime(Asn1Tag tag) => tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
}
