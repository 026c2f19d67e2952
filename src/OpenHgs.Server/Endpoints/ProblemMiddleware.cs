using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Service;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// Turns every failure into RFC 9457 problem+json with a stable <c>code</c>. Refusals carry their own safe
/// message; internal errors are logged in full and answered generically (Vault's rule), and an unreachable
/// database or key store is a 503 so clients fail over and nothing is released without its audit record.
/// </summary>
public sealed partial class ProblemMiddleware(RequestDelegate next, ILogger<ProblemMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            if (ex is RowIntegrityException integrity)
            {
                LogRowRefused(logger, integrity.Table, integrity.Key, context.Request.Path);
                ex = RowIntegrityProblems.ToRefusal(integrity);
            }

            var (status, code, detail) = Classify(ex);
            if (status >= 500)
            {
                LogFailure(logger, ex, context.Request.Path, code);
            }

            await WriteAsync(context, status, code, detail, (ex as ServiceException)?.RetryAfterSeconds).ConfigureAwait(false);
        }
    }

    /// <param name="retryAfterSeconds">Sent as <c>Retry-After</c> when given (429, 503).</param>
    public static async Task WriteAsync(HttpContext context, int status, string code, string detail, int? retryAfterSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        if (retryAfterSeconds is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteString("type", "https://openhgs.dev/problems/" + code);
        writer.WriteString("title", code);
        writer.WriteNumber("status", status);
        writer.WriteString("detail", detail);
        writer.WriteString("code", code);
        writer.WriteString("traceId", context.TraceIdentifier);
        writer.WriteEndObject();
        await writer.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The status, code and safe detail the caller is answered with for <paramref name="ex"/> (what metrics count too).</summary>
    internal static (int Status, string Code, string Detail) Classify(Exception ex) => ex switch
    {
        RowIntegrityException integrity => Classify(RowIntegrityProblems.ToRefusal(integrity)),
        ServiceException s => (StatusOf(s.Kind), s.Code, s.Message),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (413, "RequestTooLarge", "The request body is larger than the service accepts."),
        BadHttpRequestException b => (b.StatusCode, "RequestMalformed", "The request could not be read."),
        DatabaseUnavailableException => (503, "DatabaseUnavailable", "The database is unavailable; nothing was changed or released. Retry, or use another node."),
        KeyStoreUnavailableException => (503, "KeyStoreUnavailable", "The key store (HSM) is unavailable; nothing was released. Retry, or use another node."),
        _ => (500, "InternalError", "The service failed internally; the details are in its log under this trace id."),
    };

    private static int StatusOf(ProblemKind kind) => kind switch
    {
        ProblemKind.BadRequest => 400,
        ProblemKind.Unauthorized => 401,
        ProblemKind.Forbidden => 403,
        ProblemKind.NotFound => 404,
        ProblemKind.Conflict => 409,
        ProblemKind.PayloadTooLarge => 413,
        ProblemKind.TooManyRequests => 429,
        _ => 503,
    };

    [LoggerMessage(EventId = 2001, Level = LogLevel.Critical, Message = "The {Table} row '{Key}' fails its integrity check (written outside OpenHGS); request {Path} refused")]
    private static partial void LogRowRefused(ILogger logger, string table, string key, string path);

    [LoggerMessage(EventId = 2000, Level = LogLevel.Error, Message = "Request {Path} failed ({Code})")]
    private static partial void LogFailure(ILogger logger, Exception exception, PathString path, string code);
}
