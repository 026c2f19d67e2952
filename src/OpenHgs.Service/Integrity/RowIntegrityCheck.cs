using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Policies;
using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// Reads every security-relevant row and reports each that fails its MAC, is missing where it must exist, or is an older
/// copy put back (design changes 24, 62, 64 and 69), and every admin record of the audit trail whose seal is missing or wrong
/// (design change 67) — what <c>hgs audit verify</c> is for the audit trail, this is for the
/// tables. It only reads: a row it reports is refused wherever it is used anyway; this tells the admin before a
/// request trips over it, and names every one at once.
/// </summary>
public sealed class RowIntegrityCheck(IHgsDatabase database)
{
    /// <summary>The settings that are read, in the order reported; the explicit ones (design change 62) must exist.</summary>
    private static readonly string[] Settings =
        [SettingNames.Mode, SettingNames.DenyBefore, SettingNames.ValidityMinutes, SettingNames.PolicyVersion, SettingNames.FabricName, SettingNames.AdminTokenHash];

    /// <summary>Reads every row now (a bulk read: it leaves the verification memo to the requests, design change 81).</summary>
    public async Task<RowIntegrityReport> CheckAsync(CancellationToken cancellationToken)
    {
        using var bulk = BulkRowRead.Begin();
        return await database.ReadSnapshotAsync(ReadAllAsync, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<RowIntegrityReport> ReadAllAsync(HgsSession s)
    {
        var findings = new List<RowIntegrityFinding>();
        int rows = 0;
        void Add<T>(RowSet<T> set)
        {
            rows += set.Rows.Count + set.Rejected.Count;
            findings.AddRange(set.Rejected.Select(r => Finding(r.ToException())));
        }

        foreach (string name in Settings)
        {
            var (present, failure) = await CheckSettingAsync(s, name).ConfigureAwait(false);
            rows += present ? 1 : 0;
            if (failure is not null)
            {
                findings.Add(Finding(failure));
            }
        }

        Add(await s.FabricKeys.ListAsync().ConfigureAwait(false));
        Add(await s.Hosts.ListAsync().ConfigureAwait(false));
        Add(await s.Tpm.ListAttestationKeysAsync().ConfigureAwait(false));
        Add(await s.Tpm.ListRootsAsync().ConfigureAwait(false));
        Add(await s.TpmCrls.ListAsync().ConfigureAwait(false));
        var states = await s.Policies.ListStatesAsync().ConfigureAwait(false);
        Add(states);
        findings.AddRange(PolicyCatalog.All
            .Where(p => !states.Rows.Any(r => r.Name == p.Name) && !states.Rejected.Any(r => r.Key == p.Name))
            .Select(p => Finding(RowIntegrityException.Missing("policies", p.Name))));
        Add(await s.Policies.ListBaselineRowsAsync().ConfigureAwait(false));
        findings.AddRange((await s.History.UnbelievedAsync().ConfigureAwait(false)).Select(Forged));
        return new RowIntegrityReport(findings.Count == 0, rows, findings);
    }

    /// <summary>Whether a setting has a row, and what is wrong with it, or null (<see cref="SettingHistory.ReadCurrentAsync"/>'s rule).</summary>
    private static async Task<(bool Present, RowIntegrityException? Failure)> CheckSettingAsync(HgsSession s, string name)
    {
        try
        {
            return (await SettingHistory.ReadCurrentAsync(s, name).ConfigureAwait(false) is not null, null);
        }
        catch (RowIntegrityException ex)
        {
            return (!ex.IsMissing, ex);
        }
    }

    /// <summary>An admin record whose seal is missing or wrong (design change 67): not a table row, but what would vouch for one.</summary>
    private static RowIntegrityFinding Forged(AdminRecord record) => new(
        "audit_log",
        record.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ForgedRecord,
        null,
        $"The admin record {record.Sequence} ({record.Event} about '{record.Subject}') has no valid seal: it was written or changed outside OpenHGS, and no row's history believes it.");

    /// <summary>The problem of an admin record without a valid seal.</summary>
    public const string ForgedRecord = "forged";

    /// <summary>A row that fails, as the report names it (the host pages name theirs alike).</summary>
    internal static RowIntegrityFinding Finding(RowIntegrityException failure) => new(
        failure.Table,
        failure.Key,
        failure switch { { SupersededBy: not null } => "superseded", { IsMissing: true } => "missing", _ => "changed" },
        failure.SupersededBy,
        $"The {failure.Table} row '{failure.Key}' {RowIntegrityProblems.WhatHappened(failure)}.");
}
