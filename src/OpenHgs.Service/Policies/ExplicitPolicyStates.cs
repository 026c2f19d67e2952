using System.Text.Json;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Policies;

/// <summary>
/// Every policy of the catalog has a state row (design change 62), so a database writer who deletes the row of a policy
/// the admin enabled does not silently switch it back to its default (<c>Hgs_DbxPresent</c> and
/// <c>Hgs_KernelCommandLine</c> ship disabled). A policy's row is written with its default state the first time a
/// service that knows the policy starts on the fabric (a new fabric at init, an older fabric on its first start, a new
/// policy in a later release on the first start of that release), recorded as <see cref="AuditEvents.PolicyStatesMadeExplicit"/>
/// with the names the service knew. A policy named in such a record whose row is gone was deleted: it is left missing,
/// and reading the policy set fails closed (<see cref="RowIntegrityException.Missing"/>, 503 <c>PolicyIntegrity</c>).
/// </summary>
/// <remarks>As for <see cref="Admin.ExplicitSettings"/>, the audit trail is the memory a database writer cannot rewrite unnoticed.</remarks>
public static class ExplicitPolicyStates
{
    private const string KnownDetail = "known";

    /// <summary>In <paramref name="s"/>'s write transaction: writes the default state of every policy never written before, and reports deleted ones.</summary>
    /// <param name="context">Recorded with the audit record: <c>init</c> (a new fabric) or <c>upgrade</c>.</param>
    public static async Task<ExplicitRowsResult> EnsureAsync(HgsSession s, string context)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (await MissingAsync(s).ConfigureAwait(false) is not { Count: > 0 })
        {
            return ExplicitRowsResult.Complete;
        }

        // Serialised with other nodes starting (the audit head row); read again after the lock.
        await s.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        if (await MissingAsync(s).ConfigureAwait(false) is not { Count: > 0 } missing)
        {
            return ExplicitRowsResult.Complete;
        }

        var known = await KnownAsync(s).ConfigureAwait(false);
        var deleted = missing.Where(p => known.Contains(p.Name)).Select(p => p.Name).ToList();
        var fresh = missing.Where(p => !known.Contains(p.Name)).ToList();
        foreach (var policy in fresh)
        {
            await s.Policies.SetStateAsync(policy.Name, PolicyService.Name(policy.DefaultState)).ConfigureAwait(false);
        }

        if (fresh.Count > 0)
        {
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.PolicyStatesMadeExplicit, AuditOutcomes.Success, "policies", null,
                ("context", context),
                ("written", string.Join(",", fresh.Select(p => p.Name))),
                (KnownDetail, string.Join(",", PolicyCatalog.All.Select(p => p.Name))))).ConfigureAwait(false);
        }

        return new ExplicitRowsResult(fresh.Select(p => p.Name).ToList(), deleted);
    }

    /// <summary>Catalog policies without a row; null when a row fails its MAC (left for the reader to refuse).</summary>
    private static async Task<List<IAttestationPolicy>?> MissingAsync(HgsSession s)
    {
        Dictionary<string, string> states;
        try
        {
            states = await s.Policies.GetStatesAsync().ConfigureAwait(false);
        }
        catch (RowIntegrityException)
        {
            return null;
        }

        return PolicyCatalog.All.Where(p => !states.ContainsKey(p.Name)).ToList();
    }

    /// <summary>Every policy name an earlier start recorded as known (and so wrote, or found written by the admin).</summary>
    private static async Task<HashSet<string>> KnownAsync(HgsSession s)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        var records = await s.Audit.QueryAsync(new AuditQuery(null, null, AuditEvents.PolicyStatesMadeExplicit, null, AuditQuery.MaxLimit)).ConfigureAwait(false);
        foreach (var record in records)
        {
            using var details = JsonDocument.Parse(record.Details);
            if (details.RootElement.TryGetProperty(KnownDetail, out var names) && names.GetString() is { } list)
            {
                known.UnionWith(list.Split(',', StringSplitOptions.RemoveEmptyEntries));
            }
        }

        return known;
    }
}
