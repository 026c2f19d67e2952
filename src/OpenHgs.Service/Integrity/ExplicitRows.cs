using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>One kind of row that must always exist (design change 62): what is particular to settings or to policy states.</summary>
internal interface IExplicitRowKind
{
    /// <summary>The audit event that records a writing of defaults.</summary>
    string Event { get; }

    /// <summary>The audit record's subject.</summary>
    string Subject { get; }

    /// <summary>Rows that must exist and do not, with their defaults; rows present but failing their MAC count as present.</summary>
    Task<IReadOnlyList<(string Name, string Default)>> MissingAsync(HgsSession s);

    /// <summary>Whether <paramref name="records"/> (this kind's earlier writings, newest first) show that <paramref name="name"/>'s row existed.</summary>
    bool ExistedBefore(IReadOnlyList<AuditEntry> records, string name);

    /// <summary>Details of the audit record besides <c>context</c> and <c>written</c>.</summary>
    IReadOnlyList<(string Key, string? Value)> RecordDetails { get; }

    Task WriteAsync(HgsSession s, string name, string value);
}

/// <summary>
/// The one procedure behind <see cref="Admin.ExplicitSettings"/> and <see cref="Policies.ExplicitPolicyStates"/>: in the
/// caller's write transaction, write the default of each missing row that never existed (audited), and report as deleted
/// each missing row that the audit trail shows existed — those stay missing, and reading them fails closed.
/// </summary>
/// <remarks>
/// The audit trail decides because it is the one record a database writer cannot rewrite unnoticed (hash chain,
/// checkpoints signed in the key store): whoever deletes rows and the record of their writing breaks the chain, which
/// <c>hgs audit verify</c> reports.
/// </remarks>
internal static class ExplicitRows
{
    public static async Task<ExplicitRowsResult> EnsureAsync(HgsSession s, IExplicitRowKind kind, string context)
    {
        ArgumentNullException.ThrowIfNull(s);
        if ((await kind.MissingAsync(s).ConfigureAwait(false)).Count == 0)
        {
            return ExplicitRowsResult.Complete;
        }

        // Nodes starting together serialise here (the audit head row, which the audit record below locks anyway), and
        // the rows are read again after the lock: the node that waited sees what the first one wrote.
        await s.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        var missing = await kind.MissingAsync(s).ConfigureAwait(false);
        if (missing.Count == 0)
        {
            return ExplicitRowsResult.Complete;
        }

        var records = await s.Audit.QueryAsync(new AuditQuery(null, null, kind.Event, null, AuditQuery.MaxLimit)).ConfigureAwait(false);
        var deleted = missing.Where(m => kind.ExistedBefore(records, m.Name)).Select(m => m.Name).ToList();
        var fresh = missing.Where(m => !deleted.Contains(m.Name)).ToList();
        foreach (var (name, value) in fresh)
        {
            await kind.WriteAsync(s, name, value).ConfigureAwait(false);
        }

        if (fresh.Count > 0)
        {
            await s.Audit.AppendAsync(AuditRecord.Create(kind.Event, AuditOutcomes.Success, kind.Subject, null,
                [("context", context), ("written", string.Join(",", fresh.Select(m => m.Name))), .. kind.RecordDetails])).ConfigureAwait(false);
        }

        return new ExplicitRowsResult(fresh.Select(m => m.Name).ToList(), deleted);
    }
}
