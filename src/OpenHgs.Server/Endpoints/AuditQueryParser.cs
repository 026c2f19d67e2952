using System.Globalization;
using OpenHgs.Service;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>Reads <c>GET /admin/v1/audit</c>'s query string; every bad value is a 400 <c>AuditQueryInvalid</c> naming it.</summary>
internal static class AuditQueryParser
{
    private const int MaxTextLength = 256;

    private static readonly string[] KnownOutcomes = [AuditOutcomes.Success, AuditOutcomes.Refused, AuditOutcomes.Error];

    public static AuditQuery Parse(string? limit, string? since, string? @event, string? subject, string? after, string? outcome = null)
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

        return new AuditQuery(afterSequence, from, Text(@event, "event"), Text(subject, "subject"), count, Outcomes(outcome));
    }

    /// <summary>A comma-separated list of outcomes, each one the service writes.</summary>
    private static List<string>? Outcomes(string? outcome)
    {
        if (outcome is null)
        {
            return null;
        }

        var outcomes = outcome.Split(',').Select(o => o.Trim()).ToList();
        return outcomes.All(o => KnownOutcomes.Contains(o, StringComparer.Ordinal))
            ? outcomes.Distinct(StringComparer.Ordinal).ToList()
            : throw Invalid("outcome", $"one or more of {string.Join(", ", KnownOutcomes)}, comma-separated");
    }

    private static string? Text(string? value, string name) =>
        value is null ? null
        : value.Length is 0 or > MaxTextLength || value.Any(char.IsControl) ? throw Invalid(name, $"1 to {MaxTextLength} characters without control characters")
        : value;

    private static ServiceException Invalid(string parameter, string expected) =>
        ServiceException.BadRequest("AuditQueryInvalid", $"The audit query's '{parameter}' must be {expected}.");
}
