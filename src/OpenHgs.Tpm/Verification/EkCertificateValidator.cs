using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>Why an EK certificate was refused.</summary>
public enum EkCertificateFailure
{
    /// <summary>The certificate bytes are not a parseable X.509 certificate.</summary>
    MalformedCertificate,
    /// <summary>The certificate's public key is not the presented EK public key.</summary>
    KeyMismatch,
    /// <summary>The certificate does not chain to any configured TPM manufacturer root.</summary>
    UntrustedChain,
    /// <summary>The certificate or a chain element is outside its validity period.</summary>
    Expired,
    /// <summary>The certificate has an extended key usage extension without tcg-kp-EKCertificate (2.23.133.8.1).</summary>
    WrongExtendedKeyUsage,
    /// <summary>A CA certificate of the chain has a critical extension the validator does not process.</summary>
    UnsupportedCriticalExtension,
    /// <summary>The certificate, or an intermediate of its chain, is on its issuer's CRL.</summary>
    Revoked,
    /// <summary>An issuer of the chain has a CRL whose nextUpdate has passed: whether the certificate it signed is revoked is unknown (fail closed).</summary>
    CrlExpired,
    /// <summary>An issuer of the chain has a CRL that cannot be used (its row failed its integrity check): fail closed.</summary>
    CrlUnavailable,
}

/// <summary>
/// What the validator knows about revocation: the registered CRLs (each used only for the chain certificate whose
/// subject is its issuer and whose key verifies its signature) and the issuers, by SHA-256 thumbprint of their
/// certificate (lower-case hex), that have a CRL the caller could not read intact.
/// </summary>
public sealed record EkRevocationData(IReadOnlyList<RevocationList> Lists, IReadOnlySet<string> UnavailableIssuers)
{
    /// <summary>No CRL at all: revocation is not checked.</summary>
    public static EkRevocationData None { get; } = new([], new HashSet<string>());

    /// <summary>
    /// A CA as a CRL names it, whatever certificate of it is registered: SHA-256 of its subject (DER) and its
    /// SubjectPublicKeyInfo, lower-case hex. A CA's renewed certificate (same name, same key) is the same issuer, so its
    /// CRLs, and a CRL row of it that fails its check, bear on chains through either certificate.
    /// </summary>
    public static string IssuerIdentity(X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        return "ca:" + Convert.ToHexStringLower(SHA256.HashData([.. issuer.SubjectName.RawData, .. issuer.PublicKey.ExportSubjectPublicKeyInfo()]));
    }
}

/// <summary>Outcome of EK certificate validation.</summary>
public sealed record EkCertificateResult(EkCertificateFailure? Failure, string Detail)
{
    /// <summary>The validated chain as revocation reads it (<see cref="EkRevocationPath"/>): stored with the host, so CRLs imported later reach it. Empty unless it succeeded.</summary>
    public IReadOnlyList<EkRevocationLink> Chain { get; init; } = [];

    /// <summary>True when the certificate is valid for the EK.</summary>
    public bool Succeeded => Failure is null;
}

/// <summary>
/// Validates an EK certificate against configured TPM manufacturer roots (and optional intermediates) and checks
/// that it certifies the presented EK public key. Revocation is checked against the CRLs the admin imported (design
/// change 69; nothing is fetched): the EK certificate and every intermediate are looked up on the CRL of the chain
/// certificate that issued them. An issuer without a CRL is not checked; one whose CRL is past its nextUpdate, or whose
/// CRL could not be read intact, fails closed (<see cref="EkCertificateFailure.CrlExpired"/>,
/// <see cref="EkCertificateFailure.CrlUnavailable"/>). EK certificates commonly carry critical extensions .NET does not understand
/// (TCG subjectAltName directoryName, subjectDirectoryAttributes); those are tolerated on the EK certificate only: a
/// CA certificate of the chain with a critical extension outside the RFC 5280 path-validation set is refused, since
/// a critical extension means "do not trust this certificate unless you enforce this". An EK certificate that has an
/// extended key usage extension must list tcg-kp-EKCertificate (2.23.133.8.1) — a certificate issued for another
/// purpose does not vouch for an EK; one without the extension is accepted (the TCG profile makes it optional).
/// </summary>
public static class EkCertificateValidator
{
    /// <summary>tcg-kp-EKCertificate (TCG EK Credential Profile).</summary>
    public const string EkCertificateUsageOid = "2.23.133.8.1";

    /// <summary>
    /// Critical extensions a CA certificate may carry: those the chain builder enforces (RFC 5280 §6) plus
    /// subjectAltName/extendedKeyUsage, which constrain no path the validator accepts.
    /// </summary>
    private static readonly HashSet<string> CaCriticalExtensions =
    [
        "2.5.29.15", // keyUsage
        "2.5.29.17", // subjectAltName
        "2.5.29.19", // basicConstraints
        "2.5.29.30", // nameConstraints
        "2.5.29.32", // certificatePolicies
        "2.5.29.33", // policyMappings
        "2.5.29.36", // policyConstraints
        "2.5.29.37", // extKeyUsage
        "2.5.29.54", // inhibitAnyPolicy
    ];

    /// <summary>Validates <paramref name="certificateDer"/> for <paramref name="ek"/> at <paramref name="now"/>.</summary>
    public static EkCertificateResult Validate(byte[] certificateDer, TpmtPublic ek, IEnumerable<X509Certificate2> roots,
        IEnumerable<X509Certificate2>? intermediates = null, DateTimeOffset? now = null, EkRevocationData? revocation = null)
    {
        ArgumentNullException.ThrowIfNull(certificateDer);
        ArgumentNullException.ThrowIfNull(ek);
        ArgumentNullException.ThrowIfNull(roots);
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        }
        catch (CryptographicException e)
        {
            return new(EkCertificateFailure.MalformedCertificate, e.Message);
        }
        using (certificate)
        {
            if (!SameKey(certificate, ek))
            {
                return new(EkCertificateFailure.KeyMismatch, "the certificate does not certify the presented EK");
            }
            if (certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } eku
                && !eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == EkCertificateUsageOid))
            {
                return new(EkCertificateFailure.WrongExtendedKeyUsage,
                    $"the extended key usage ({string.Join(", ", eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value))}) lacks tcg-kp-EKCertificate ({EkCertificateUsageOid})");
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            var at = now ?? DateTimeOffset.UtcNow;
            chain.ChainPolicy.VerificationTime = at.UtcDateTime;
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreWrongUsage | X509VerificationFlags.IgnoreInvalidPolicy;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
            if (intermediates is not null)
            {
                chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
            }
            chain.Build(certificate);
            var problems = chain.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.HasNotSupportedCriticalExtension).ToList();
            if (problems.Any(s => s.Status is X509ChainStatusFlags.NotTimeValid))
            {
                return new(EkCertificateFailure.Expired, string.Join("; ", problems.Select(s => s.StatusInformation.Trim())));
            }
            var anchored = chain.ChainElements.Count > 0
                && chain.ChainPolicy.CustomTrustStore.Contains(chain.ChainElements[^1].Certificate);
            if (problems.Count > 0 || !anchored)
            {
                return new(EkCertificateFailure.UntrustedChain,
                    problems.Count > 0 ? string.Join("; ", problems.Select(s => s.StatusInformation.Trim())) : "no configured root");
            }
            foreach (var ca in chain.ChainElements.Skip(1).Select(e => e.Certificate))
            {
                if (ca.Extensions.FirstOrDefault(x => x.Critical && !CaCriticalExtensions.Contains(x.Oid?.Value ?? string.Empty)) is { } unknown)
                {
                    return new(EkCertificateFailure.UnsupportedCriticalExtension,
                        $"the CA certificate {ca.Subject} has the critical extension {unknown.Oid?.Value}, which is not processed");
                }
            }
            var elements = chain.ChainElements.Select(e => e.Certificate).ToList();
            return CheckRevocation(elements, revocation ?? EkRevocationData.None, at)
                ?? new(null, $"chains to {elements[^1].Subject}") { Chain = EkRevocationPath.Of(elements) };
        }
    }

    /// <summary>Each certificate of the chain but the root against its issuer's CRL (the next element); null when none is revoked.</summary>
    private static EkCertificateResult? CheckRevocation(List<X509Certificate2> chain, EkRevocationData revocation, DateTimeOffset now)
    {
        for (int i = 0; i + 1 < chain.Count; i++)
        {
            var (certificate, issuer) = (chain[i], chain[i + 1]);
            bool unavailable = revocation.UnavailableIssuers.Contains(Convert.ToHexStringLower(SHA256.HashData(issuer.RawData)))
                || revocation.UnavailableIssuers.Contains(EkRevocationData.IssuerIdentity(issuer));
            string what = i == 0 ? "the EK certificate" : $"the intermediate {certificate.Subject}";
            if (EkRevocationIndex.CheckLink(what, certificate.SerialNumberBytes.Span, issuer.Subject, revocation.Lists.Where(l => l.IsIssuedBy(issuer)), unavailable, now) is { } failure)
            {
                return failure;
            }
        }

        return null;
    }

    private static bool SameKey(X509Certificate2 certificate, TpmtPublic ek)
    {
        if (ek.Rsa is { } rsaEk)
        {
            using var rsa = certificate.GetRSAPublicKey();
            if (rsa is null)
            {
                return false;
            }
            var p = rsa.ExportParameters(false);
            return p.Modulus is not null && p.Modulus.AsSpan().SequenceEqual(rsaEk.Modulus)
                && new System.Numerics.BigInteger(p.Exponent, isUnsigned: true, isBigEndian: true) == rsaEk.EffectiveExponent;
        }
        if (ek.Ecc is { } eccEk)
        {
            using var ec = certificate.GetECDsaPublicKey() ?? (ECAlgorithm?)certificate.GetECDiffieHellmanPublicKey();
            if (ec is null)
            {
                return false;
            }
            var q = ec.ExportParameters(false).Q;
            return q.X is not null && q.Y is not null && q.X.AsSpan().SequenceEqual(eccEk.X) && q.Y.AsSpan().SequenceEqual(eccEk.Y);
        }
        return false;
    }
}
