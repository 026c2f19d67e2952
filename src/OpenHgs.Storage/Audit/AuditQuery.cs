namespace OpenHgs.Storage;

/// <summary>
/// A filter over the audit trail (<c>hgs audit list</c>): records after a sequence number (following the trail), at or
/// after a time, of one event (or every event with a prefix, written <c>prefix*</c>), about one subject, with one of
/// some outcomes.
/// </summary>
public sealed record AuditQuery(long? AfterSequence, DateTimeOffset? Since, string? Event, string? Subject, int Limit, IReadOnlyList<string>? Outcomes = null)
{
    public const int MaxLimit = 10_000;
}
