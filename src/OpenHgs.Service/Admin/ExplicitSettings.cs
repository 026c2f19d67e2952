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
    /// the fabric's life (audited), and otherwise only reports the rows that are gone (<see cref="ExplicitRows"/>). A row
    /// that is present but fails its MAC is left alone: reading it fails closed.
    /// </summary>
    /// <param name="context">Recorded with the audit record: <c>init</c> (a new fabric) or <c>upgrade</c>.</param>
    public static Task<ExplicitRowsResult> EnsureAsync(HgsSession s, string context) => ExplicitRows.EnsureAsync(s, Kind.Instance, context);

    /// <summary>The three rows were written together, once: any earlier record means every one of them existed.</summary>
    private sealed class Kind : IExplicitRowKind
    {
        public static readonly Kind Instance = new();

        public string Event => AuditEvents.SettingsMadeExplicit;

        public string Subject => "settings";

        public IReadOnlyList<(string Key, string? Value)> RecordDetails => [];

        public bool ExistedBefore(IReadOnlyList<AuditEntry> records, string name) => records.Count > 0;

        public Task WriteAsync(HgsSession s, string name, string value) => s.Settings.SetAsync(name, value);

        public async Task<IReadOnlyList<(string Name, string Default)>> MissingAsync(HgsSession s)
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
}
