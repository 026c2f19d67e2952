using System.Globalization;

namespace OpenHgs.Service.Hosts;

/// <summary>
/// What one page of <c>GET /admin/v1/hosts</c> asks for (design change 87): at most <see cref="Limit"/> hosts whose names
/// sort after <see cref="After"/> (exclusive) and start with <see cref="Prefix"/>. Every bad value is a 400
/// <c>HostPageQueryInvalid</c> naming the parameter, before anything is read.
/// </summary>
public sealed record HostPageQuery(int Limit, string? After, string? Prefix)
{
    /// <summary>The default and largest page: each host on it costs a MAC check, and its admin records a seal check, in the key store.</summary>
    public const int MaxLimit = 500;

    /// <summary>The problem code of every refused page query.</summary>
    public const string InvalidCode = "HostPageQueryInvalid";

    /// <summary>Reads the query string's values (null: absent).</summary>
    /// <exception cref="ServiceException"><see cref="InvalidCode"/>, naming the parameter.</exception>
    public static HostPageQuery Parse(string? limit, string? after, string? prefix)
    {
        int count = MaxLimit;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > MaxLimit))
        {
            throw Invalid("limit", $"a whole number from 1 to {MaxLimit}");
        }

        // Any stored name is a valid cursor, also one written outside OpenHGS that no registration would accept (the
        // page reports that row, and the next page must still follow it); PostgreSQL text holds no NUL, so none is a name.
        if (after is not null && (after.Length == 0 || after.Contains('\0', StringComparison.Ordinal)))
        {
            throw Invalid("after", "a host name (the 'next' of the page before)");
        }

        if (prefix is not null && !HostRegistry.IsValidNamePrefix(prefix))
        {
            throw Invalid("prefix", "the start of a host name: 1 to 253 letters, digits, '.', '_' or '-'");
        }

        return new HostPageQuery(count, after, prefix);
    }

    private static ServiceException Invalid(string parameter, string expected) =>
        ServiceException.BadRequest(InvalidCode, $"The host page query's '{parameter}' must be {expected}.");
}
