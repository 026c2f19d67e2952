using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Policies;
using OpenHgs.Storage;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// TPM manufacturer CRLs (design change 69): an admin imports the CRL a TPM vendor publishes for a registered root or
/// intermediate, and EK registrations through that issuer are checked against it. An import is refused, changing
/// nothing, unless the CRL parses (<c>TpmCrlMalformed</c>, <c>TpmCrlUnsupported</c>), is signed by a registered
/// certificate whose subject is its issuer (<c>TpmCrlIssuerUnknown</c>, <c>TpmCrlSignatureInvalid</c>), is still current
/// (<c>TpmCrlExpired</c>) and is newer than the issuer's stored CRL (<c>TpmCrlRollback</c>; the same CRL again is
/// <c>TpmCrlExists</c>). Each import and removal is audited in its transaction (subject <c>tpm-crl:ISSUER</c>, naming the
/// CRL's SHA-256), which is what lets a CRL row put back or deleted outside OpenHGS be told (<see cref="TpmCrlTable"/>).
/// Since design change 75 each import and removal also bumps the policy version (named in its record): attestation checks
/// every TPM host's stored EK chain against the CRLs of the version it decides under (<see cref="PolicySnapshot.EkRevocation"/>),
/// and an import names the registered hosts it revokes, and those it cannot check (no stored EK chain).
/// </summary>
public sealed partial class TpmCrlService(IHgsDatabase database, TimeProvider time, ILogger<TpmCrlService> logger, SettingsService? settings = null)
{
    /// <summary>The largest CRL accepted (a vendor CRL listing tens of thousands of EK certificates is well under it).</summary>
    public const int MaxCrlBytes = 4 * 1024 * 1024;

    private const string PemLabel = "X509 CRL";

    public async Task<TpmCrlInfo> AddAsync(string crlText, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(crlText);
        var crl = Parse(crlText);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(time.GetUtcNow().ToUnixTimeMilliseconds()); // as stored
        if (now > crl.NextUpdate)
        {
            throw ServiceException.BadRequest("TpmCrlExpired",
                $"The CRL of {crl.Issuer.Name} was due to be replaced at {crl.NextUpdate:u}: a stale CRL would refuse every registration through its issuer; import the issuer's current CRL.");
        }

        var (record, effect) = await database.InTransactionAsync(async s =>
        {
            var (issuer, certificate) = await IssuerAsync(s, crl).ConfigureAwait(false);
            using var _ = certificate;
            await s.TpmCrls.LockIssuerAsync(issuer.Thumbprint).ConfigureAwait(false);

            // The CA's CRLs under any of its registered certificates (a renewed one has the same name and key): the new
            // CRL must be newer than each, and replaces them all, so one CA has one CRL whatever certificate it came under.
            var sameCa = (await s.TpmCrls.ListAsync().ConfigureAwait(false)).Rows.Where(c => c.IssuerThumbprint == issuer.Thumbprint || IssuedBy(c, certificate)).ToList();
            foreach (var stored in sameCa)
            {
                RefuseRollback(crl, stored);
            }

            foreach (var replaced in sameCa.Where(c => c.IssuerThumbprint != issuer.Thumbprint))
            {
                await RemoveRowAsync(s, replaced).ConfigureAwait(false);
            }

            var record = new TpmCrlRecord(issuer.Thumbprint, issuer.Subject, crl.NumberText, crl.ThisUpdate, crl.NextUpdate, crl.RawData, now);
            await s.TpmCrls.SetAsync(record).ConfigureAwait(false);
            var effect = await TpmCrlEffect.OfAsync(s, crl, certificate, now).ConfigureAwait(false);
            int version = await PolicyService.BumpVersionAsync(s).ConfigureAwait(false);
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, TpmCrlTable.SubjectPrefix + issuer.Thumbprint, null,
                ("issuer", issuer.Subject), ("crlNumber", record.Number), (TpmCrlTable.DigestDetail, TpmCrlTable.Digest(record.Crl)),
                ("revoked", crl.RevokedCount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                (TpmCrlEffect.RevokedHostsDetail, effect.RecordedRevokedHosts), (TpmCrlEffect.UncheckedHostsDetail, effect.RecordedUncheckedHosts),
                (PolicyVersionDetail, version.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ConfigureAwait(false);
            return (record, effect);
        }, cancellationToken).ConfigureAwait(false);
        settings?.Invalidate();
        LogCrlImported(logger, record.IssuerSubject, record.Number, crl.RevokedCount);
        foreach (var (host, detail) in effect.RevokedHosts)
        {
            LogHostRevoked(logger, host, detail);
        }

        return ToInfo(record, crl.RevokedCount) with
        {
            RevokedHosts = effect.RevokedHosts.Count == 0 ? null : [.. effect.RevokedHosts.Select(h => new TpmRevokedHost(h.Host, h.Detail))],
            UncheckedHosts = effect.UncheckedHosts.Count == 0 ? null : effect.UncheckedHosts,
        };
    }

    /// <summary>The detail of a CRL change record naming the policy version it made (design change 75).</summary>
    internal const string PolicyVersionDetail = "policyVersion";

    /// <summary>Removes the CRL of an issuer (named like a root: its thumbprint or a unique prefix of at least 16 hex digits); a CRL whose row fails its check can be removed (the remedy).</summary>
    public async Task<TpmCrlInfo> RemoveAsync(string issuerThumbprint, CancellationToken cancellationToken)
    {
        string prefix = TpmEnrollmentService.ThumbprintPrefix(issuerThumbprint, "TpmCrlIssuerInvalid");
        var removed = await database.InTransactionAsync(async s =>
        {
            var crls = await s.TpmCrls.ListAsync().ConfigureAwait(false);
            var crl = TpmEnrollmentService.SingleByPrefix(
                crls.Rows.Concat(crls.Rejected.Select(r => TpmCrlRecord.KeyOnly(r.Key, "(changed outside OpenHGS)"))), c => c.IssuerThumbprint, prefix,
                () => ServiceException.NotFound("TpmCrlNotFound", $"No CRL is imported for an issuer whose thumbprint starts {prefix}."),
                count => ServiceException.Conflict("TpmCrlAmbiguous", $"{count} CRLs have issuer thumbprints starting {prefix}; give more digits."));
            await RemoveRowAsync(s, crl, await PolicyService.BumpVersionAsync(s).ConfigureAwait(false)).ConfigureAwait(false);
            return crl;
        }, cancellationToken).ConfigureAwait(false);
        settings?.Invalidate();
        return ToInfo(removed, RevokedCount(removed));
    }

    /// <summary>
    /// Removes a CRL row with its audit record, in the caller's transaction (a removal, a replacement, or its issuer's
    /// removal). A removal that changes the CRLs in force names the policy version the caller bumped for it; a replacement
    /// names none (the import's own record, after it, does).
    /// </summary>
    internal static async Task RemoveRowAsync(HgsSession s, TpmCrlRecord crl, int? policyVersion = null)
    {
        await s.TpmCrls.RemoveAsync(crl.IssuerThumbprint).ConfigureAwait(false);
        (string, string?)[] details = policyVersion is { } version
            ? [("issuer", crl.IssuerSubject), (TpmCrlTable.RemovedDetail, "true"), (PolicyVersionDetail, version.ToString(System.Globalization.CultureInfo.InvariantCulture))]
            : [("issuer", crl.IssuerSubject), (TpmCrlTable.RemovedDetail, "true")];
        await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingChanged, AuditOutcomes.Success, TpmCrlTable.SubjectPrefix + crl.IssuerThumbprint, null, details)).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<TpmCrlInfo>> ListAsync(CancellationToken cancellationToken) =>
        [.. (await database.ReadSnapshotAsync(s => s.TpmCrls.ListAsync(), cancellationToken).ConfigureAwait(false)).Rows.Select(c => ToInfo(c, RevokedCount(c)))];

    /// <summary>
    /// What an EK registration checks revocation against: every imported CRL whose row is intact and current, and the
    /// issuers whose CRL row is not (changed, put back or deleted outside OpenHGS), whose chains then fail closed.
    /// </summary>
    internal static async Task<EkRevocationData> RevocationDataAsync(HgsSession s)
    {
        var crls = await s.TpmCrls.ListAsync().ConfigureAwait(false);
        var unavailable = crls.Rejected.Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        var lists = new List<RevocationList>();
        foreach (var row in crls.Rows)
        {
            try
            {
                lists.Add(RevocationList.Parse(row.Crl));
            }
            catch (RevocationListException)
            {
                unavailable.Add(row.IssuerThumbprint); // verified on import and MACed since: only a release reading less would get here
            }
        }

        // A CA is one issuer under any of its registered certificates: a chain built through its renewed certificate
        // (same name and key) fails closed too.
        foreach (var root in (await s.Tpm.ListRootsAsync().ConfigureAwait(false)).Rows.Where(r => unavailable.Contains(r.Thumbprint)).ToList())
        {
            using var certificate = X509CertificateLoader.LoadCertificate(root.Certificate);
            unavailable.Add(EkRevocationData.IssuerIdentity(certificate));
        }

        return new EkRevocationData(lists, unavailable);
    }

    /// <summary>
    /// <see cref="RevocationDataAsync"/> indexed under the registered roots and intermediates: what attestation checks a
    /// host's stored EK chain against (built once per policy version, <see cref="PolicyService.LoadAsync"/>).
    /// </summary>
    internal static async Task<EkRevocationIndex> RevocationIndexAsync(HgsSession s)
    {
        var data = await RevocationDataAsync(s).ConfigureAwait(false);
        if (data.Lists.Count == 0 && data.UnavailableIssuers.Count == 0)
        {
            return EkRevocationIndex.Empty;
        }

        var issuers = (await s.Tpm.ListRootsAsync().ConfigureAwait(false)).Rows.Select(r => X509CertificateLoader.LoadCertificate(r.Certificate)).ToList();
        try
        {
            return EkRevocationIndex.Build(data, issuers);
        }
        finally
        {
            issuers.ForEach(c => c.Dispose());
        }
    }

    private static RevocationList Parse(string text)
    {
        byte[] der;
        try
        {
            der = text.Contains("-----BEGIN", StringComparison.Ordinal)
                ? PemEncoding.TryFind(text, out var fields) && text[fields.Label] == PemLabel ? Convert.FromBase64String(text[fields.Base64Data]) : throw new FormatException()
                : Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw ServiceException.BadRequest("TpmCrlMalformed", $"The CRL is not PEM ('-----BEGIN {PemLabel}-----') or base64 DER.");
        }

        if (der.Length > MaxCrlBytes)
        {
            throw ServiceException.BadRequest("TpmCrlMalformed", $"The CRL is larger than {MaxCrlBytes} bytes.");
        }

        try
        {
            return RevocationList.Parse(der);
        }
        catch (RevocationListException ex)
        {
            throw ServiceException.BadRequest(ex.Problem == RevocationListProblem.Unsupported ? "TpmCrlUnsupported" : "TpmCrlMalformed", $"The CRL is refused: {ex.Message}.");
        }
    }

    /// <summary>The registered root or intermediate that issued the CRL: its subject is the CRL's issuer and its key verifies the signature.</summary>
    private static async Task<(TpmRootRecord Root, X509Certificate2 Certificate)> IssuerAsync(HgsSession s, RevocationList crl)
    {
        var named = new List<TpmRootRecord>();
        foreach (var root in (await s.Tpm.ListRootsAsync().ConfigureAwait(false)).Rows)
        {
            var certificate = X509CertificateLoader.LoadCertificate(root.Certificate);
            if (certificate.SubjectName.RawData.AsSpan().SequenceEqual(crl.Issuer.RawData) && crl.SignatureVerifies(certificate))
            {
                return (root, certificate);
            }

            if (certificate.SubjectName.RawData.AsSpan().SequenceEqual(crl.Issuer.RawData))
            {
                named.Add(root);
            }

            certificate.Dispose();
        }

        throw named.Count == 0
            ? ServiceException.BadRequest("TpmCrlIssuerUnknown",
                $"No registered TPM root or intermediate is named {crl.Issuer.Name}, the CRL's issuer; register it with 'hgs tpm-roots add' first.")
            : ServiceException.BadRequest("TpmCrlSignatureInvalid",
                $"The CRL's signature does not verify with the key of any registered certificate named {crl.Issuer.Name} ({string.Join(", ", named.Select(r => r.Thumbprint[..16]))}).");
    }

    /// <summary>
    /// Refuses a CRL that is not newer than the stored one: by CRL number when both have one (an equal number is the same
    /// CRL, so other content under it is a forgery or a mistake), else by thisUpdate.
    /// </summary>
    private static void RefuseRollback(RevocationList crl, TpmCrlRecord stored)
    {
        if (crl.RawData.AsSpan().SequenceEqual(stored.Crl))
        {
            throw ServiceException.Conflict("TpmCrlExists", $"This CRL (number {stored.Number}) is already the one imported for {stored.IssuerSubject}.");
        }

        bool older = crl.Number is { } number && stored.Number.Length > 0
            ? number <= BigInteger.Parse("0" + stored.Number, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture)
            : crl.ThisUpdate <= stored.ThisUpdate;
        if (older)
        {
            throw ServiceException.Conflict("TpmCrlRollback",
                $"The CRL (number {crl.NumberText}, issued {crl.ThisUpdate:u}) is not newer than the one imported for {stored.IssuerSubject} (number {stored.Number}, issued {stored.ThisUpdate:u}): an older CRL could un-revoke certificates. Remove the stored one first ('hgs tpm-roots remove-crl') only if it is wrong.");
        }
    }

    /// <summary>Whether a stored CRL is the CA's whose certificate <paramref name="issuer"/> is (same name, and its key verifies it).</summary>
    private static bool IssuedBy(TpmCrlRecord stored, X509Certificate2 issuer)
    {
        try
        {
            var list = RevocationList.Parse(stored.Crl);
            return list.IsIssuedBy(issuer);
        }
        catch (RevocationListException)
        {
            return false;
        }
    }

    private static int RevokedCount(TpmCrlRecord record)
    {
        try
        {
            return record.Crl.Length == 0 ? 0 : RevocationList.Parse(record.Crl).RevokedCount;
        }
        catch (RevocationListException)
        {
            return 0;
        }
    }

    private static TpmCrlInfo ToInfo(TpmCrlRecord record, int revoked) =>
        new(record.IssuerThumbprint, record.IssuerSubject, record.Number, record.ThisUpdate, record.NextUpdate, revoked, record.AddedAt);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Information, Message = "TPM CRL of {Issuer} imported (number {Number}, {Revoked} revoked)")]
    private static partial void LogCrlImported(ILogger logger, string issuer, string number, int revoked);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Warning, Message = "TPM host {HostName} is revoked by the CRL just imported; its attestations are refused from now on: {Detail}")]
    private static partial void LogHostRevoked(ILogger logger, string hostName, string detail);
}
