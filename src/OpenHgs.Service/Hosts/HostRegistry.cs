using OpenHgs.Protocol.HealthCertificates;
using System.Text.RegularExpressions;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Hosts;

/// <summary>Registered guarded hosts (HGS Add-HgsAttestationHostKey / Remove-…). Every change is audited in its transaction.</summary>
public sealed partial class HostRegistry(IHgsDatabase database, TimeProvider time)
{

    public async Task<HostInfo> AddHostKeyAsync(string name, string publicKey, CancellationToken cancellationToken)
    {
        ValidateName(name);
        byte[] spki = HostKeys.ParsePublicKey(publicKey, "publicKey");
        var record = new HostRecord(name, AttestationModeNames.HostKey, spki, HostKeys.Thumbprint(spki), time.GetUtcNow());
        await database.InTransactionAsync(async s =>
        {
            if (await s.Hosts.FindByNameAsync(name).ConfigureAwait(false) is not null)
            {
                throw ServiceException.Conflict("HostExists", $"A host named '{name}' is already registered.");
            }

            if (await s.Hosts.FindByThumbprintAsync(record.KeyThumbprint).ConfigureAwait(false) is { } other)
            {
                throw ServiceException.Conflict("HostKeyInUse", $"That key is already registered for host '{other.Name}'.");
            }

            await s.Hosts.AddAsync(record).ConfigureAwait(false);
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, name, null,
                ("mode", record.Mode), ("keyThumbprint", record.KeyThumbprint))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return ToInfo(record);
    }

    public async Task RemoveAsync(string name, CancellationToken cancellationToken)
    {
        await database.InTransactionAsync(async s =>
        {
            var host = await RemovableRow.FindAsync(() => s.Hosts.FindByNameAsync(name),
                () => ServiceException.NotFound("UnknownHost", $"There is no registered host '{name}'.")).ConfigureAwait(false);

            await s.Hosts.RemoveAsync(name).ConfigureAwait(false);
            await s.Tpm.RemoveHostAsync(name).ConfigureAwait(false);   // an AK must never outlive its EK's registration
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostRemoved, AuditOutcomes.Success, name,
                host is null ? nameof(Attestation.AttestationFailureCode.HostRecordIntegrity) : null,
                ("mode", host?.Mode), ("keyThumbprint", host?.KeyThumbprint))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One page of hosts in name order (design change 87): those whose rows verify, and the page's rows that do not (a row
    /// changed outside OpenHGS or put back cannot attest; it is named, not hidden). Row and trail are read in one snapshot,
    /// as a bulk read: an admin paging through every host does not evict the rows requests verify from the memo.
    /// </summary>
    public async Task<HostPage> ListPageAsync(HostPageQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var bulk = BulkRowRead.Begin();
        var (page, verdicts) = await database.ReadSnapshotAsync(async s =>
        {
            var rows = await s.Hosts.ListPageAsync(query.After, query.Prefix, query.Limit).ConfigureAwait(false);
            return (rows, await s.Audit.LatestAttestationOfEachAsync(VerdictSubjects(rows.Rows.Rows)).ConfigureAwait(false));
        }, cancellationToken).ConfigureAwait(false);
        return new HostPage([.. page.Rows.Rows.Select(ToInfo)], [.. page.Rows.Rejected.Select(r => RowIntegrityCheck.Finding(r.ToException()))], page.Next, page.Total,
            [.. verdicts.Select(AuditRecordInfos.From)]);
    }

    /// <summary>
    /// The subjects a host's attestation records name (design change 89): its name, and its key or EK for a refusal
    /// decided before the host was looked up (wrong mode, replayed nonce). Three per host, so bounded by the page.
    /// </summary>
    private static List<string> VerdictSubjects(IEnumerable<HostRecord> hosts) =>
        [.. hosts.SelectMany(h => new[] { h.Name, "key:" + h.KeyThumbprint, "ek:" + h.KeyThumbprint }).Distinct(StringComparer.Ordinal)];

    public static HostInfo ToInfo(HostRecord r) => new(r.Name, r.Mode, r.KeyThumbprint, r.AddedAt, EkCertificateState(r));

    /// <summary>
    /// What revocation can do about a TPM host (<see cref="HostInfo.EkCertificate"/>, design change 75): <c>stored</c>, or
    /// why no CRL reaches it — <c>none</c> (registered without a certificate) or <c>not-stored</c> (registered before
    /// certificates were stored); null for host-key hosts.
    /// </summary>
    public static string? EkCertificateState(HostRecord host) =>
        host?.Mode != AttestationModeNames.Tpm ? null
        : host.EkChain is null ? "not-stored"
        : host.EkChain.Length == 0 ? "none"
        : "stored";

    public static void ValidateName(string name)
    {
        if (name is null || !HostNamePattern().IsMatch(name))
        {
            throw ServiceException.BadRequest("HostNameInvalid", "Host names are 1-253 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }
    }

    /// <summary>Whether <paramref name="prefix"/> can start a host name (<see cref="ValidateName"/>'s alphabet, 1 to 253 characters).</summary>
    public static bool IsValidNamePrefix(string prefix) => prefix is not null && HostNamePattern().IsMatch(prefix);

    // \z, not $: $ also matches before a final newline, which would admit "host-a\n" beside "host-a".
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostNamePattern();
}
