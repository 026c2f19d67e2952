namespace OpenHgs.Service;

/// <summary>How a refusal maps onto HTTP (and CLI exit codes).</summary>
public enum ProblemKind
{
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
}

/// <summary>
/// A refusal with a stable machine-readable <see cref="Code"/> (e.g. <c>HealthCertificateExpired</c>) and a
/// message safe to show the caller. Internal failures are never wrapped in this type: they are logged in
/// full and answered generically.
/// </summary>
public sealed class ServiceException(ProblemKind kind, string code, string message) : Exception(message)
{
    public ProblemKind Kind { get; } = kind;

    public string Code { get; } = code;

    /// <summary>Sent as <c>Retry-After</c> (seconds) when set: how long the caller should wait before asking again.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ServiceException BadRequest(string code, string message) => new(ProblemKind.BadRequest, code, message);

    public static ServiceException Forbidden(string code, string message) => new(ProblemKind.Forbidden, code, message);

    public static ServiceException NotFound(string code, string message) => new(ProblemKind.NotFound, code, message);

    public static ServiceException Conflict(string code, string message) => new(ProblemKind.Conflict, code, message);

    public static ServiceException TooManyRequests(string code, string message) => new(ProblemKind.TooManyRequests, code, message);

    public static ServiceException Unavailable(string code, string message) => new(ProblemKind.Unavailable, code, message);
}
