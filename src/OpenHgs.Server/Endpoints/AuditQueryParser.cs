using System.Globalization;
using OpenHgs.Service;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>Reads <c>GET /admin/v1/audit</c>'s query string; every bad value is a 400 <c>AuditQueryInvalid</c> naming it.</summary>
internal static class AuditQueryParser
{
    private const int MaxTextLength = 256;

    public static AuditQuery Parse(string? limit, string? since, string? @event, string? subject, string? after)
    {
        int count = 100;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1 || count > AuditQuery.MaxLimit))
        {
            throw Invalid("limit", $"a whole number from 1 to {AuditQuery.MaxLimit}");
        }

        DateTimeOffset? from = null;
        if (since is not null)
        {
            from = DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw Invalid("since", "an ISO 8601 date and time, e.g. 2026-12-06T08:00:00Z");
        }

        long? afterSequence = null;
        if (after is not null)
        {
            afterSequence = long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out long sequence)
                ? sequence
                : throw Invalid("after", "a record sequence number");
        }

        return new AuditQuery(afterSequence, from, Text(@event, "event"), Text(subject, "subject"), count);
    }

    private static string? Text(string? value, string name) =>
        value is null ? null
        : value.Length is 0 or > MaxTextLength || value.Any(char.IsControl) ? throw Invalid(name, $"1 to {MaxTextLength} characters without control characters")
        : value;

    private static ServiceException Invalid(string parameter, string expected) =>
        ServiceException.BadRequest("AuditQueryInvalid", $"The audit query's '{parameter}' must be {expected}.");
}
