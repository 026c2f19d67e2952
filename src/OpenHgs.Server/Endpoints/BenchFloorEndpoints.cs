using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Server.Configuration;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// The bench's HTTP floor (bench/README.md): <c>POST /bench/v1/floor?bytes=N</c> reads and discards the request body and
/// answers N bytes of JSON, doing no other work, so <c>./bench/run.sh</c> can measure what the same server process, under
/// the same load generator, answers when a request costs nothing but HTTP — the floor under the release and attestation
/// rates. It exists only when <see cref="Variable"/> is set at start-up (never by default) and is refused with
/// <c>--production</c>: it is an unauthenticated endpoint that answers whatever size it is asked for.
/// </summary>
public static class BenchFloorEndpoints
{
    /// <summary>The environment variable <c>hgs server run</c> reads at start-up: <c>1</c> or <c>true</c> maps the endpoint.</summary>
    public const string Variable = "OPENHGS_BENCH_HTTP_FLOOR";

    /// <summary>The endpoint's path.</summary>
    public const string Path = "/bench/v1/floor";

    /// <summary>Largest answer, bytes: bigger than any release or attestation response, small enough not to be a memory lever.</summary>
    public const int MaxBytes = 1024 * 1024;

    private const int CachedSizes = 16;
    private static readonly ConcurrentDictionary<int, byte[]> Bodies = new();

    /// <summary>Whether <paramref name="value"/> (the variable's value; null when unset) switches the floor on.</summary>
    /// <exception cref="HgsConfigurationException">A value other than unset, empty, 0, 1, false or true.</exception>
    public static bool IsOn(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "0" or "false" => false,
        "1" or "true" => true,
        _ => throw new HgsConfigurationException(Variable, $"{Variable}='{value}' is not 1, true, 0 or false."),
    };

    /// <summary>Refuses the floor in production, naming the variable; checked before anything else is opened.</summary>
    /// <exception cref="HgsConfigurationException">The floor is on and <paramref name="production"/> is set.</exception>
    public static void Validate(bool on, bool production)
    {
        if (on && production)
        {
            throw new HgsConfigurationException(Variable,
                $"{Variable} is set, which maps the bench's unauthenticated HTTP floor endpoint (POST {Path}); --production refuses it. Unset {Variable}: it is for ./bench/run.sh only.");
        }
    }

    /// <summary>
    /// Maps the endpoint behind the same rate-limit policy as <c>/keyprotection/v1</c> and <c>/attestation/v1</c>, so a
    /// floor request passes the same middleware as a release (problem middleware, routing, rate limiter); it is left
    /// out of the API description.
    /// </summary>
    internal static void MapBenchFloorEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGroup("/bench/v1").RequireRateLimiting(Hosting.ClientRateLimit.PolicyName)
            .MapPost("/floor", (Func<HttpContext, Task<IResult>>)FloorAsync)
            .ExcludeFromDescription();

    private static async Task<IResult> FloorAsync(HttpContext context)
    {
        if (!int.TryParse(context.Request.Query["bytes"], NumberStyles.None, CultureInfo.InvariantCulture, out int bytes) || bytes > MaxBytes)
        {
            return Results.BadRequest();
        }

        // Read (and drop) the body as a release reads its JSON: the same bytes cross the same socket and Kestrel limits.
        await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted).ConfigureAwait(false);
        return Results.Bytes(Body(bytes), "application/json; charset=utf-8");
    }

    /// <summary>A JSON document of exactly <paramref name="bytes"/> bytes (spaces below the smallest document), made once per size.</summary>
    private static byte[] Body(int bytes)
    {
        if (Bodies.TryGetValue(bytes, out byte[]? cached))
        {
            return cached;
        }

        const string Open = "{\"floor\":\"", Close = "\"}";
        byte[] body = bytes < Open.Length + Close.Length
            ? [.. Enumerable.Repeat((byte)' ', bytes)]
            : System.Text.Encoding.ASCII.GetBytes(Open + new string('x', bytes - Open.Length - Close.Length) + Close);
        if (Bodies.Count < CachedSizes)
        {
            Bodies.TryAdd(bytes, body);
        }

        return body;
    }
}
