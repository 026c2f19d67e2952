using System.Security.Cryptography.X509Certificates;

namespace OpenHgs.Tpm.Verification;

/// <summary>One certificate of an EK certificate's chain as revocation reads it: its serial number (hex, as a CRL lists it) and the CA that issued it (<see cref="EkRevocationData.IssuerIdentity"/>).</summary>
public sealed record EkRevocationLink(string SerialNumber, string IssuerIdentity);

/// <summary>
/// An EK certificate's validated chain, every certificate but the root, as stored with a TPM host's registration (design
/// change 75): enough to look it up on the CRLs imported later without the chain or its certificates. Text, one
/// <c>SERIAL@ISSUER</c> per certificate from the EK certificate up, separated by spaces; empty for a TPM registered
/// without a certificate.
/// </summary>
public static class EkRevocationPath
{
    /// <summary>The links of a validated chain (EK certificate first, root last).</summary>
    public static IReadOnlyList<EkRevocationLink> Of(IReadOnlyList<X509Certificate2> chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        return [.. chain.Zip(chain.Skip(1), (certificate, issuer) =>
            new EkRevocationLink(Convert.ToHexString(certificate.SerialNumberBytes.Span), EkRevocationData.IssuerIdentity(issuer)))];
    }

    public static string Format(IReadOnlyList<EkRevocationLink> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        return string.Join(' ', links.Select(l => l.SerialNumber + "@" + l.IssuerIdentity));
    }

    /// <exception cref="FormatException">The text is not a path (the row MAC covers it, so only a release writing another format gets here).</exception>
    public static IReadOnlyList<EkRevocationLink> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(part => part.Split('@') is [{ Length: > 0 } serial, { Length: > 0 } issuer]
            ? new EkRevocationLink(serial, issuer)
            : throw new FormatException("not an EK revocation path"))];
    }
}

/// <summary>
/// The imported CRLs by the CA that issued them (<see cref="EkRevocationData.IssuerIdentity"/>), each parsed and its
/// signature verified once, when the index is built: checking a chain is then a dictionary look-up per certificate. Built
/// from the same <see cref="EkRevocationData"/> registration validates against, and applying the same rule
/// (<see cref="CheckLink"/>): a certificate on its CA's CRL is <see cref="EkCertificateFailure.Revoked"/>, a CA with a CRL
/// past its nextUpdate <see cref="EkCertificateFailure.CrlExpired"/>, one whose CRL row failed its check
/// <see cref="EkCertificateFailure.CrlUnavailable"/>; a CA without a CRL is not checked. Immutable: a change of the
/// CRLs builds a new index.
/// </summary>
public sealed class EkRevocationIndex
{
    private readonly Dictionary<string, (string Subject, RevocationList[] Lists)> _byIssuer;
    private readonly Dictionary<string, string> _unavailable;

    private EkRevocationIndex(Dictionary<string, (string, RevocationList[])> byIssuer, Dictionary<string, string> unavailable)
    {
        _byIssuer = byIssuer;
        _unavailable = unavailable;
    }

    /// <summary>No CRL: nothing is revoked.</summary>
    public static EkRevocationIndex Empty { get; } = new([], []);

    /// <summary>True when no CA has a CRL (nor one that cannot be relied on): no chain needs looking up.</summary>
    public bool IsEmpty => _byIssuer.Count == 0 && _unavailable.Count == 0;

    /// <summary>
    /// Indexes <paramref name="data"/> under the registered roots and intermediates (<paramref name="issuers"/>): a CRL is
    /// filed under each CA whose certificate's subject is its issuer and whose key verifies it, as registration uses it.
    /// </summary>
    public static EkRevocationIndex Build(EkRevocationData data, IEnumerable<X509Certificate2> issuers)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(issuers);
        var byIssuer = new Dictionary<string, (string Subject, RevocationList[] Lists)>(StringComparer.Ordinal);
        var unavailable = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var issuer in issuers)
        {
            string identity = EkRevocationData.IssuerIdentity(issuer);
            if (data.UnavailableIssuers.Contains(identity))
            {
                unavailable[identity] = issuer.Subject;
            }

            var lists = data.Lists.Where(l => l.IsIssuedBy(issuer)).ToArray();
            if (lists.Length > 0)
            {
                // A renewed certificate of the CA (same name and key) finds the same CRLs: keep each once.
                var known = byIssuer.GetValueOrDefault(identity).Lists ?? [];
                byIssuer[identity] = (issuer.Subject, [.. known.Concat(lists).DistinctBy(l => l.RawData, ByteArrayComparer.Instance)]);
            }
        }

        return new EkRevocationIndex(byIssuer, unavailable);
    }

    /// <summary>The first certificate of <paramref name="path"/> its CA's CRL says is revoked (or whose CA's CRL cannot be relied on) at <paramref name="now"/>; null when none.</summary>
    public EkCertificateResult? Check(IReadOnlyList<EkRevocationLink> path, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(path);
        for (int i = 0; i < path.Count; i++)
        {
            var link = path[i];
            bool unavailable = _unavailable.TryGetValue(link.IssuerIdentity, out string? unavailableSubject);
            var (subject, lists) = _byIssuer.GetValueOrDefault(link.IssuerIdentity);
            if (!unavailable && lists is null)
            {
                continue;
            }

            string what = i == 0 ? "the EK certificate" : $"the intermediate certificate {i} of its chain";
            if (CheckLink(what, Convert.FromHexString(link.SerialNumber), subject ?? unavailableSubject!, lists ?? [], unavailable, now) is { } failure)
            {
                return failure;
            }
        }

        return null;
    }

    /// <summary>
    /// The rule for one certificate of a chain (<paramref name="what"/>, for the message) against the CRLs of the CA that
    /// issued it: the CA's CRL row unavailable fails closed; then every CRL of the CA, not the first (a renewed certificate
    /// of the CA may have its own row, and a stale one fails closed wherever it is).
    /// </summary>
    internal static EkCertificateResult? CheckLink(string what, ReadOnlySpan<byte> serialNumber, string issuerSubject, IEnumerable<RevocationList> lists, bool unavailable, DateTimeOffset now)
    {
        if (unavailable)
        {
            return new(EkCertificateFailure.CrlUnavailable, $"the CRL of {issuerSubject} failed its integrity check (changed, put back or deleted outside OpenHGS)");
        }

        foreach (var crl in lists)
        {
            if (now > crl.NextUpdate)
            {
                return new(EkCertificateFailure.CrlExpired,
                    $"the CRL of {issuerSubject} (number {crl.NumberText}) was due to be replaced at {crl.NextUpdate:u}; import its current CRL");
            }

            if (crl.Find(serialNumber) is { } entry)
            {
                return new(EkCertificateFailure.Revoked,
                    $"{what} (serial {entry.SerialNumber}) was revoked at {entry.RevokedAt:u} by the CRL of {issuerSubject} (number {crl.NumberText})");
            }
        }

        return null;
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static ByteArrayComparer Instance { get; } = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }
}
