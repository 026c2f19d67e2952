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
/// The lookups use the partial index of migration <see cref="SqlDialect.AdminSubjectIndexVersion"/>.
/// </remarks>
internal sealed class AdminRecordHistory(CommandFactory db)
{
    /// <summary>The condition that selects admin records: the partial index's, repeated verbatim so both databases use it.</summary>
    internal const string AdminEvents = "event LIKE 'admin.%'";

    /// <summary>The look-up of one subject's records (<see cref="AboutAsync"/>), parameters <c>@s</c>, <c>@e1</c>, <c>@e2</c>.</summary>
    internal const string AboutQuery =
        $"SELECT seq, event, subject, details FROM audit_log WHERE {AdminEvents} AND subject = @s AND event IN (@e1, @e2) AND outcome = 'success' ORDER BY seq DESC";

    /// <summary>The successful admin records about <paramref name="subject"/> with one of two events, newest first.</summary>
    public Task<List<AdminRecord>> AboutAsync(string subject, string event1, string event2) =>
        db.QueryAsync(AboutQuery, Map, ("@s", subject), ("@e1", event1), ("@e2", event2));

    /// <summary>Every successful admin record with one of two events, grouped by subject, newest first in each group.</summary>
    public async Task<ILookup<string, AdminRecord>> AllAsync(string event1, string event2) =>
        (await db.QueryAsync(
            $"SELECT seq, event, subject, details FROM audit_log WHERE {AdminEvents} AND event IN (@e1, @e2) AND outcome = 'success' ORDER BY seq DESC",
            Map, ("@e1", event1), ("@e2", event2)).ConfigureAwait(false)).ToLookup(r => r.Subject, StringComparer.Ordinal);

    private static AdminRecord Map(System.Data.Common.DbDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3));
}
