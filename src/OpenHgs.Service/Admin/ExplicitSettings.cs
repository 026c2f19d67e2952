using System.Globalization;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Admin;

/// <summary>
/// The settings whose absence would weaken a check, each of which always has a row (design change 62): a database
/// writer who deletes the mode row must not switch a TPM fabric back to host-key attestation, nor one who deletes the
/// deny-before row bring back certificates issued before it, nor one who deletes the validity row lengthen new
/// certificates. A new fabric writes them at init; a fabric from before the change gets their defaults once, on its
/// first start, recorded as <see cref="AuditEvents.SettingsMadeExplicit"/>. From then on a missing row is an integrity
/// failure (<see cref="RowIntegrityException.Missing"/>), never a default.
/// </summary>
/// <remarks>
/// Why the audit trail decides whether defaults may still be written: it is the only record a database writer cannot
/// remove unnoticed (hash chain, checkpoints signed in the key store). Whoever deletes the rows and the record of
/// their first writing breaks the chain, which <c>hgs audit verify</c> reports.
/// </remarks>
public static class ExplicitSettings
{
    /// <summary>The stored deny-before value meaning "none" (the Unix epoch: no certificate was issued before it).</summary>
    public const string NoDenyBefore = "0";

    /// <summary>Each explicit setting and the value the service used when its row was absent, before design change 62.</summary>
    public static IReadOnlyList<(string Name, string Default)> Defaults { get; } =
    [
        (SettingNames.Mode, AttestationModeNames.HostKey),
        (SettingNames.DenyBefore, NoDenyBefore),
        (SettingNames.ValidityMinutes, ((int)HealthCertificateProfile.DefaultValidity.TotalMinutes).ToString(CultureInfo.InvariantCulture)),
    ];

    /// <summary>
    /// In <paramref name="s"/>'s write transaction: writes the default of every explicit setting that has no row, once in
    /// the fabric's life (audited), and otherwise only reports the rows that are gone. A row that is present but fails its
    /// MAC is left alone: reading it fails closed.
    /// </summary>
    /// <param name="context">Recorded with the audit record: <c>init</c> (a new fabric) or <c>upgrade</c>.</param>
    public static async Task<ExplicitRowsResult> EnsureAsync(HgsSession s, string context)
    {
        ArgumentNullException.ThrowIfNull(s);
        if ((await MissingAsync(s).ConfigureAwait(false)).Count == 0)
        {
            return ExplicitRowsResult.Complete;
        }

        // Nodes starting together serialise here (the audit head row, which the audit record below locks anyway), and
        // the rows are read again after the lock: the node that waited sees what the first one wrote.
        await s.Audit.ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        var missing = await MissingAsync(s).ConfigureAwait(false);
        if (missing.Count == 0)
        {
            return ExplicitRowsResult.Complete;
        }

        var names = missing.Select(m => m.Name).ToList();
        if ((await s.Audit.QueryAsync(new AuditQuery(null, null, AuditEvents.SettingsMadeExplicit, null, 1)).ConfigureAwait(false)).Count > 0)
        {
            return new ExplicitRowsResult([], names);
        }

        foreach (var (name, value) in missing)
        {
            await s.Settings.SetAsync(name, value).ConfigureAwait(false);
        }

        await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.SettingsMadeExplicit, AuditOutcomes.Success, "settings", null,
            ("context", context), ("written", string.Join(",", names)))).ConfigureAwait(false);
        return new ExplicitRowsResult(names, []);
    }

    private static async Task<List<(string Name, string Default)>> MissingAsync(HgsSession s)
    {
        var missing = new List<(string Name, string Default)>();
        foreach (var setting in Defaults)
        {
            if (!await HasRowAsync(s, setting.Name).ConfigureAwait(false))
            {
                missing.Add(setting);
            }
        }

        return missing;
    }

    private static async Task<bool> HasRowAsync(HgsSession s, string name)
    {
        try
        {
            return await s.Settings.GetAsync(name).ConfigureAwait(false) is not null;
        }
        catch (RowIntegrityException)
        {
            return true;
        }
    }
}
