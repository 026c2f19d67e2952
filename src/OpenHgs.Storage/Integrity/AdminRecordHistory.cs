using System.Text.Json;

namespace OpenHgs.Storage;

/// <summary>A successful admin record of the audit trail, as a row's history reads it.</summary>
public sealed record AdminRecord(long Sequence, string Event, string Subject, string Details)
{
    /// <summary>The value of a top-level string field of the record's details (a flat JSON object), or null.</summary>
    public string? Detail(string name)
    {
        try
        {
            using var document = JsonDocument.Parse(Details);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The audit events whose records say what became of a row (their subject names the row).</summary>
public static class AdminRecordEvents
{
    /// <summary>A host registered (details <c>keyThumbprint</c>) or its TPM attestation key activated (details <c>akPublicSha256</c>).</summary>
    public const string HostAdded = "admin.hosts.add";

    /// <summary>A host removed, with its attestation key.</summary>
    public const string HostRemoved = "admin.hosts.remove";

    /// <summary>A setting, policy state (<c>policy:NAME</c>), baseline (<c>baseline:NAME</c>) or TPM root (<c>tpm-root:THUMBPRINT</c>) changed.</summary>
    public const string SettingChanged = "admin.settings.change";

    /// <summary>A fabric key added (subject: its id; details <c>role</c>, <c>primary</c>).</summary>
    public const string KeyAdded = "admin.keys.add";

    /// <summary>A fabric key made the primary of its role (subject: its id; details <c>role</c>).</summary>
    public const string KeyPrimarySet = "admin.keys.set-primary";

    /// <summary>A fabric key enabled.</summary>
    public const string KeyEnabled = "admin.keys.enable";

    /// <summary>A fabric key disabled.</summary>
    public const string KeyDisabled = "admin.keys.disable";

    /// <summary>A fabric key removed from the configuration.</summary>
    public const string KeyRemoved = "admin.keys.remove";
}

/// <summary>How one admin record bears on a row about its subject.</summary>
public enum RecordBearing
{
    /// <summary>The record says nothing about this row (look at the one before it).</summary>
    Silent,

    /// <summary>The record wrote this very row: the row is current.</summary>
    ThisRow,

    /// <summary>The record removed the row or wrote another in its place: the row is an older copy.</summary>
    Replaced,
}

/// <summary>
/// What the audit trail last said about a row. A row's MAC proves that OpenHGS wrote the row once, not that it is the
/// row OpenHGS wrote last: whoever can write the database can put back an older copy of a row, MAC and all, from a
/// backup or a log (a removed host, say). Every change to such a row is audited in its own transaction, so before a
/// row is used its table asks the trail's admin records about the row's subject and refuses a copy that a later record
/// removed or replaced (<see cref="RowIntegrityException.Superseded"/>).
/// </summary>
/// <remarks>
/// Hiding that later record means rewriting the hash-chained trail, which the signed checkpoints and
/// <c>hgs audit verify</c> name (<c>Rewritten</c>, <c>Truncated</c>); this check makes a bare replay fail at once.
/// The lookups use the partial indexes of migrations <see cref="SqlDialect.AdminSubjectIndexVersion"/> (by subject) and
/// <see cref="SqlDialect.AdminEventIndexVersion"/> (by event).
/// </remarks>
public sealed class AdminRecordHistory
{
    private readonly CommandFactory db;

    internal AdminRecordHistory(CommandFactory db) => this.db = db;

    /// <summary>The condition that selects admin records: the partial index's, repeated verbatim so both databases use it.</summary>
    internal const string AdminEvents = "event LIKE 'admin.%'";

    private const string Selected = $"SELECT seq, event, subject, details FROM audit_log WHERE {AdminEvents} AND outcome = 'success'";

    /// <summary>The successful admin records about <paramref name="subject"/> with one of <paramref name="events"/>, newest first.</summary>
    public Task<List<AdminRecord>> AboutAsync(string subject, params string[] events) =>
        db.QueryAsync(AboutQuery(events.Length), Map, [("@s", subject), .. Events(events)]);

    /// <summary>
    /// The successful admin records with one of <paramref name="events"/> about every subject starting
    /// <paramref name="subjectPrefix"/> (empty: every subject), grouped by subject, newest first in each group.
    /// </summary>
    public async Task<ILookup<string, AdminRecord>> AllAsync(string subjectPrefix, params string[] events)
    {
        ArgumentNullException.ThrowIfNull(subjectPrefix);
        var records = await db.QueryAsync(AllQuery(subjectPrefix.Length, events.Length), Map, [.. Events(events), ("@p", subjectPrefix)]).ConfigureAwait(false);
        return records.ToLookup(r => r.Subject, StringComparer.Ordinal);
    }

    /// <summary>
    /// The newest successful admin record of <paramref name="eventName"/> about any subject starting
    /// <paramref name="subjectPrefix"/>, or null.
    /// </summary>
    public async Task<AdminRecord?> NewestAsync(string subjectPrefix, string eventName)
    {
        ArgumentException.ThrowIfNullOrEmpty(subjectPrefix);
        var records = await db.QueryAsync(AllQuery(subjectPrefix.Length, 1) + " LIMIT 1", Map, ("@e0", eventName), ("@p", subjectPrefix)).ConfigureAwait(false);
        return records.Count == 0 ? null : records[0];
    }

    /// <summary>
    /// The look-up of every subject's records by event (parameters <c>@e0</c>…, and <c>@p</c>, the subject prefix, when
    /// <paramref name="prefixLength"/> is not 0), served by the partial index of migration
    /// <see cref="SqlDialect.AdminEventIndexVersion"/>. The prefix is compared with <c>substr</c> and <c>=</c>, never a
    /// range or <c>LIKE</c>: a PostgreSQL database with a non-C collation does not sort <c>:</c> before <c>;</c>, and
    /// SQLite's <c>LIKE</c> ignores case; equality is exact in both.
    /// </summary>
    internal static string AllQuery(int prefixLength, int eventCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        return Query(eventCount, prefixLength == 0 ? string.Empty : $" AND substr(subject, 1, {prefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture)}) = @p");
    }

    /// <summary>The look-up of one subject's records (<see cref="AboutAsync"/>; parameters <c>@s</c> and <c>@e0</c>…), served by the index of migration <see cref="SqlDialect.AdminSubjectIndexVersion"/>.</summary>
    internal static string AboutQuery(int eventCount) => Query(eventCount, " AND subject = @s");

    private static string Query(int eventCount, string subjectCondition)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(eventCount, 1);
        string inList = string.Join(", ", Enumerable.Range(0, eventCount).Select(i => $"@e{i}"));
        return $"{Selected}{subjectCondition} AND event IN ({inList}) ORDER BY seq DESC";
    }

    private static IEnumerable<(string, object?)> Events(string[] events) => events.Select((e, i) => ($"@e{i}", (object?)e));

    /// <summary>
    /// The record that removed or replaced a row since it was written, or null when the row is current: newest first, the
    /// first record that bears on the row decides. A row no record bears on (from before its table was audited this
    /// way, or never changed since) is current.
    /// </summary>
    public static long? SupersededBy(IEnumerable<AdminRecord> newestFirst, Func<AdminRecord, RecordBearing> bearing)
    {
        ArgumentNullException.ThrowIfNull(newestFirst);
        foreach (var record in newestFirst)
        {
            switch (bearing(record))
            {
                case RecordBearing.ThisRow:
                    return null;
                case RecordBearing.Replaced:
                    return record.Sequence;
            }
        }

        return null;
    }

    /// <summary>Whether a record's <paramref name="detail"/> is present and names something other than <paramref name="value"/>.</summary>
    public static RecordBearing Names(AdminRecord record, string detail, string value) => record.Detail(detail) switch
    {
        null => RecordBearing.Silent,
        { } named when string.Equals(named, value, StringComparison.Ordinal) => RecordBearing.ThisRow,
        _ => RecordBearing.Replaced,
    };

    private static AdminRecord Map(System.Data.Common.DbDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3));
}
