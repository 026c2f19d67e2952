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

    /// <summary>
    /// An EK certificate attached to a registered TPM host (design change 85; details <c>keyThumbprint</c> and
    /// <c>ekCertificateSha256</c>): the row it wrote is current only while it holds that certificate.
    /// </summary>
    public const string HostEkCertificateSet = "admin.hosts.set-ek-certificate";

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
/// Appending a record that names the older copy does not help either: only records whose seal verifies
/// (<see cref="AdminRecordSeal"/>, design change 67), or that precede the trail's first sealed record, are believed;
/// any other admin record is left out of every answer here and reported by <see cref="UnbelievedAsync"/>.
/// The lookups use the partial indexes of migrations <see cref="SqlDialect.AdminSubjectIndexVersion"/> (by subject) and
/// <see cref="SqlDialect.AdminEventIndexVersion"/> (by event).
/// </remarks>
public sealed class AdminRecordHistory
{
    private readonly CommandFactory db;
    private readonly AdminRecordSeal seal;

    internal AdminRecordHistory(CommandFactory db, AdminRecordSeal seal)
    {
        this.db = db;
        this.seal = seal;
    }

    /// <summary>The condition that selects admin records: the partial index's, repeated verbatim so both databases use it.</summary>
    internal const string AdminEvents = "event LIKE 'admin.%'";

    private const string Selected = $"SELECT seq, event, subject, details, ts, reason, prev_hash FROM audit_log WHERE {AdminEvents} AND outcome = 'success'";

    /// <summary>The believed admin records about <paramref name="subject"/> with one of <paramref name="events"/>, newest first.</summary>
    public async Task<List<AdminRecord>> AboutAsync(string subject, params string[] events) =>
        await BelievedAsync(await db.QueryAsync(AboutQuery(events.Length), Map, [("@s", subject), .. Events(events)]).ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// The believed admin records with one of <paramref name="events"/> about each of <paramref name="subjects"/> (one
    /// query, by the subject index: a page of rows judged together), grouped by subject, newest first in each group.
    /// </summary>
    public async Task<ILookup<string, AdminRecord>> AboutEachAsync(IReadOnlyList<string> subjects, params string[] events)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        if (subjects.Count == 0)
        {
            return Array.Empty<AdminRecord>().ToLookup(r => r.Subject, StringComparer.Ordinal);
        }

        var records = await db.QueryAsync(AboutEachQuery(subjects.Count, events.Length), Map,
            [.. subjects.Select((s, i) => ($"@s{i}", (object?)s)), .. Events(events)]).ConfigureAwait(false);
        return (await BelievedAsync(records).ConfigureAwait(false)).ToLookup(r => r.Subject, StringComparer.Ordinal);
    }

    /// <summary>
    /// The believed admin records with one of <paramref name="events"/> about every subject starting
    /// <paramref name="subjectPrefix"/> (empty: every subject), grouped by subject, newest first in each group.
    /// </summary>
    public async Task<ILookup<string, AdminRecord>> AllAsync(string subjectPrefix, params string[] events)
    {
        ArgumentNullException.ThrowIfNull(subjectPrefix);
        var records = await db.QueryAsync(AllQuery(subjectPrefix.Length, events.Length), Map, [.. Events(events), ("@p", subjectPrefix)]).ConfigureAwait(false);
        return (await BelievedAsync(records).ConfigureAwait(false)).ToLookup(r => r.Subject, StringComparer.Ordinal);
    }

    /// <summary>
    /// The newest believed admin record of <paramref name="eventName"/> about any subject starting
    /// <paramref name="subjectPrefix"/>, or null.
    /// </summary>
    public async Task<AdminRecord?> NewestAsync(string subjectPrefix, string eventName)
    {
        ArgumentException.ThrowIfNullOrEmpty(subjectPrefix);
        string query = AllQuery(subjectPrefix.Length, 1);
        var newest = await BelievedAsync(await db.QueryAsync(query + " LIMIT 1", Map, ("@e0", eventName), ("@p", subjectPrefix)).ConfigureAwait(false)).ConfigureAwait(false);
        if (newest.Count == 1)
        {
            return newest[0];
        }

        // None, or the newest is not believed: then the newest believed one, from all of them (a rare path).
        var all = await BelievedAsync(await db.QueryAsync(query, Map, ("@e0", eventName), ("@p", subjectPrefix)).ConfigureAwait(false)).ConfigureAwait(false);
        return all.Count == 0 ? null : all[0];
    }

    /// <summary>
    /// Every successful admin record that is not believed, oldest first: its seal is missing (from the trail's first
    /// sealed record on) or does not verify. OpenHGS never writes one; each was written or edited outside it.
    /// </summary>
    public async Task<List<AdminRecord>> UnbelievedAsync()
    {
        var stored = await db.QueryAsync($"{Selected} ORDER BY seq", Map).ConfigureAwait(false);
        HashSet<long> believed;
        try
        {
            believed = (await BelievedAsync(stored).ConfigureAwait(false)).Select(r => r.Sequence).ToHashSet();
        }
        catch (RowIntegrityException)
        {
            // No marker verifies and no seal says where sealing starts (the marker changed in place before any other
            // record was sealed): which unsealed records to believe cannot be told, but every record whose seal fails,
            // the marker among them, is named rather than the whole report failing.
            return [.. stored.Where(r => AdminRecordSeal.Unseal(r.Record.Details) is not null && Verify(r) is null).Select(r => r.Record)];
        }

        return [.. stored.Where(r => !believed.Contains(r.Record.Sequence)).Select(r => r.Record)];
    }

    /// <summary>
    /// The sequence from which every admin record is sealed: that of the trail's first marker whose seal verifies (and
    /// names itself); when none does, what the oldest sealed record whose seal verifies says (its MAC covers its
    /// <c>sealedFrom</c>), so a marker changed in place or cut off neither blocks admin changes nor moves where sealing
    /// starts; null while no record of the trail claims a seal (no release with sealing has written an admin record to
    /// it). Records at sequence 0 or below, which no chain walk reads, are never asked.
    /// </summary>
    /// <exception cref="RowIntegrityException">Records claim a seal (the marker among them, or not), but among the oldest
    /// none verifies: they were changed or written outside OpenHGS, and which records to believe cannot be told (fail
    /// closed; <c>hgs audit verify</c> names the change).</exception>
    public async Task<long?> SealedFromAsync()
    {
        // Markers are few (one per trail, unless someone forged more); the index by event finds them.
        var markers = await db.QueryAsync(MarkerQuery, Map, ("@e0", AdminRecordSeal.MarkerEvent)).ConfigureAwait(false);
        foreach (var marker in markers)
        {
            if (Verify(marker) is { } from && from == marker.Record.Sequence)
            {
                return from;
            }
        }

        // Only a trail whose marker is gone or altered, or one with no admin record yet, gets here.
        var sealedRecords = await db.QueryAsync(OldestSealedQuery, Map).ConfigureAwait(false);
        foreach (var record in sealedRecords)
        {
            if (Verify(record) is { } from)
            {
                return from;
            }
        }

        // Nothing claims a seal: a trail never sealed. Claims that all fail: where sealing starts cannot be told.
        return (markers.Count > 0 ? markers[0] : sealedRecords.Count > 0 ? sealedRecords[0] : null) is { } unverified
            ? throw new RowIntegrityException("audit_log", unverified.Record.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : null;
    }

    /// <summary>
    /// The records to believe, in the given order: a sealed one whose seal verifies, and an unsealed one only when it
    /// precedes the trail's first sealed record. That sequence is what the verified seals among them say (their MAC
    /// covers it), else the marker's (looked up only when an unsealed record is there to judge).
    /// </summary>
    private async Task<List<AdminRecord>> BelievedAsync(List<StoredRecord> stored)
    {
        var judged = stored.Select(r => (Stored: r, IsSealed: AdminRecordSeal.Unseal(r.Record.Details) is not null, SealedFrom: Verify(r))).ToList();
        long? sealedFrom = null;
        if (judged.Any(j => !j.IsSealed))
        {
            sealedFrom = judged.Min(j => j.SealedFrom) ?? await SealedFromAsync().ConfigureAwait(false);
        }

        return [.. judged
            .Where(j => j.IsSealed ? j.SealedFrom is not null : sealedFrom is null || j.Stored.Record.Sequence < sealedFrom)
            .Select(j => j.Stored.Record)];
    }

    private long? Verify(StoredRecord stored) => seal.Verify(stored.Record.Sequence, stored.TimestampMs,
        new AuditEvent(stored.Record.Event, "success", stored.Record.Subject, stored.Reason, stored.Record.Details), stored.PreviousHash);

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

    /// <summary>The look-up of the oldest markers (parameter <c>@e0</c>), served by the index of migration <see cref="SqlDialect.AdminEventIndexVersion"/>.</summary>
    internal const string MarkerQuery = $"{Selected} AND event = @e0 AND seq > 0 ORDER BY seq LIMIT 16";

    /// <summary>The look-up of the oldest records that carry a seal (<see cref="SealedFromAsync"/>'s fallback, a rare path).</summary>
    private const string OldestSealedQuery = $"{Selected} AND details LIKE '%{AdminRecordSeal.MacField}%' AND seq > 0 ORDER BY seq LIMIT 16";

    /// <summary>The look-up of one subject's records (<see cref="AboutAsync"/>; parameters <c>@s</c> and <c>@e0</c>…), served by the index of migration <see cref="SqlDialect.AdminSubjectIndexVersion"/>.</summary>
    internal static string AboutQuery(int eventCount) => Query(eventCount, " AND subject = @s");

    /// <summary>The look-up of several subjects' records (<see cref="AboutEachAsync"/>; parameters <c>@s0</c>… and <c>@e0</c>…), served by the same index.</summary>
    internal static string AboutEachQuery(int subjectCount, int eventCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(subjectCount, 1);
        // With two IN lists the planners (no statistics yet, or few records) took the event index and filtered every host
        // record by subject; comparing the event as an expression leaves them only the subject index's look-ups.
        return Query(eventCount, $" AND subject IN ({string.Join(", ", Enumerable.Range(0, subjectCount).Select(i => $"@s{i}"))})", "(event || '')");
    }

    private static string Query(int eventCount, string subjectCondition, string eventColumn = "event")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(eventCount, 1);
        string inList = string.Join(", ", Enumerable.Range(0, eventCount).Select(i => $"@e{i}"));
        return $"{Selected}{subjectCondition} AND {eventColumn} IN ({inList}) ORDER BY seq DESC";
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

    private static StoredRecord Map(System.Data.Common.DbDataReader r) => new(
        new AdminRecord(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3)), r.GetInt64(4), r.IsDBNull(5) ? null : r.GetString(5), (byte[])r.GetValue(6));

    /// <summary>A record as stored, with what its seal covers beside the fields a rule reads.</summary>
    private sealed record StoredRecord(AdminRecord Record, long TimestampMs, string? Reason, byte[] PreviousHash);
}
