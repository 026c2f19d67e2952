using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Service.Admin;

/// <summary>
/// Design change 64 for settings: a setting row must hold the value the audit trail last recorded for it, so an older
/// MACed copy put back (a mode from before the switch to TPM, a deny-before date from before a compromise, the hash of
/// a rotated-out admin token) is refused like an altered row. A setting no record names (written at init, or by the
/// one-time defaults of design change 62) is current.
/// </summary>
public static class SettingHistory
{
    /// <summary>The detail of a rotation record that names the stored credential (a digest of its hash, never the hash).</summary>
    public const string CredentialDigestDetail = "credentialDigest";

    /// <summary>The audit subject of admin credential rotations.</summary>
    public const string CredentialSubject = "admin-credential";

    /// <exception cref="RowIntegrityException">The row is an older copy (<see cref="RowIntegrityException.SupersededBy"/> names the record).</exception>
    public static async Task CheckAsync(HgsSession s, string name, string value)
    {
        ArgumentNullException.ThrowIfNull(s);
        long? replacedBy = name switch
        {
            SettingNames.PolicyVersion => AdminRecordHistory.SupersededBy(await PolicyVersionRecordsAsync(s).ConfigureAwait(false),
                r => AdminRecordHistory.Names(r, "policyVersion", value)),
            SettingNames.AdminTokenHash => AdminRecordHistory.SupersededBy(
                await s.History.AboutAsync(CredentialSubject, AuditEvents.AdminCredentialRotated).ConfigureAwait(false),
                r => r.Detail(CredentialDigestDetail) is null ? RecordBearing.ThisRow : AdminRecordHistory.Names(r, CredentialDigestDetail, CredentialDigest(value))),
            _ => AdminRecordHistory.SupersededBy(await s.History.AboutAsync(name, AuditEvents.SettingChanged).ConfigureAwait(false),
                r => RecordedValue(name, r) is { } recorded
                    ? string.Equals(recorded, value, StringComparison.Ordinal) ? RecordBearing.ThisRow : RecordBearing.Replaced
                    : RecordBearing.Silent),
        };
        if (replacedBy is { } sequence)
        {
            throw RowIntegrityException.Superseded(SettingsTable.Table, name, sequence);
        }
    }

    /// <summary>
    /// A setting's row as the service may use it, or null when it has none and may have none: its MAC verified, present
    /// if it must always be (the explicit settings of design change 62, and the policy version once a policy change was
    /// recorded), and the value last recorded for it (every setting but the fabric name, which decides nothing).
    /// </summary>
    /// <exception cref="RowIntegrityException">The row fails its MAC, is missing, or is an older copy put back.</exception>
    public static async Task<string?> ReadCurrentAsync(HgsSession s, string name)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (name == SettingNames.PolicyVersion)
        {
            return await PolicyVersionAsync(s, checkHistory: true).ConfigureAwait(false);
        }

        string? value = ExplicitSettings.Defaults.Any(d => d.Name == name)
            ? await s.Settings.GetRequiredAsync(name).ConfigureAwait(false)
            : await s.Settings.GetAsync(name).ConfigureAwait(false);
        if (value is not null && name != SettingNames.FabricName)
        {
            await CheckAsync(s, name, value).ConfigureAwait(false);
        }

        return value;
    }

    /// <summary>
    /// The policy version row's value, or null when the fabric never had one (no policy or baseline change was ever
    /// recorded; version 1). A row that is gone although changes were recorded was deleted outside OpenHGS, and a
    /// deleted version must not read as 1: nodes may still cache version 1's weaker policy set.
    /// </summary>
    /// <param name="checkHistory">Also check the row against the newest recorded version (the settings read; the commit step, on every TPM attestation, leaves that to it).</param>
    /// <exception cref="RowIntegrityException">The row fails its MAC, is missing, or (with <paramref name="checkHistory"/>) is an older copy.</exception>
    public static async Task<string?> PolicyVersionAsync(HgsSession s, bool checkHistory)
    {
        ArgumentNullException.ThrowIfNull(s);
        string? text = await s.Settings.GetAsync(SettingNames.PolicyVersion).ConfigureAwait(false);
        if (text is null)
        {
            return await NewestRecordedPolicyVersionAsync(s).ConfigureAwait(false) > 0
                ? throw RowIntegrityException.Missing(SettingsTable.Table, SettingNames.PolicyVersion)
                : null;
        }

        if (checkHistory)
        {
            await CheckAsync(s, SettingNames.PolicyVersion, text).ConfigureAwait(false);
        }

        return text;
    }

    /// <summary>
    /// The newest policy version the audit trail recorded (every policy state and baseline change names the version it
    /// made), or 0: a bump starts above it, so a version rolled back and bumped again is never reused for another set.
    /// </summary>
    public static async Task<int> NewestRecordedPolicyVersionAsync(HgsSession s)
    {
        foreach (var record in await PolicyVersionRecordsAsync(s).ConfigureAwait(false))
        {
            if (int.TryParse(record.Detail("policyVersion"), NumberStyles.None, CultureInfo.InvariantCulture, out int version))
            {
                return version;
            }
        }

        return 0;
    }

    /// <summary>How a rotation record names the stored credential hash: SHA-256 over a domain tag and the hash.</summary>
    public static string CredentialDigest(string storedHash) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("openhgs-admin-credential-record\n" + storedHash)));

    /// <summary>The value a change record set (a cleared deny-before date is recorded as null and stored as its explicit row).</summary>
    private static string? RecordedValue(string name, AdminRecord record) =>
        record.Detail("value") ?? (name == SettingNames.DenyBefore ? ExplicitSettings.NoDenyBefore : null);

    /// <summary>
    /// The newest policy or baseline change, which names the version it made (every release has recorded it), and the
    /// newest TPM CRL change, which does since design change 75 (an older one names none and bears on nothing), as a
    /// history: read on every settings load, so one row per prefix, never the whole history.
    /// </summary>
    private static async Task<IEnumerable<AdminRecord>> PolicyVersionRecordsAsync(HgsSession s)
    {
        var state = await s.History.NewestAsync(PolicyTable.PolicySubjectPrefix, AuditEvents.SettingChanged).ConfigureAwait(false);
        var baseline = await s.History.NewestAsync(PolicyTable.BaselineSubjectPrefix, AuditEvents.SettingChanged).ConfigureAwait(false);
        var crl = await s.History.NewestAsync(TpmCrlTable.SubjectPrefix, AuditEvents.SettingChanged).ConfigureAwait(false);
        return new[] { state, baseline, crl }.OfType<AdminRecord>().OrderByDescending(r => r.Sequence);
    }
}
