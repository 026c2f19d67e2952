using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using OpenHgs.Server.Endpoints;

namespace OpenHgs.Server.Hosting;

/// <summary>
/// The per-client-address limit on the unauthenticated routes (<c>/attestation/v1</c>, <c>/keyprotection/v1</c>): a
/// token bucket of <see cref="Burst"/> requests refilled at <see cref="PerSecond"/>, keyed by the connection's remote
/// address (the direct peer: behind a proxy, every host shares the proxy's bucket). Over the limit a request is
/// answered 429 <c>RateLimited</c> with <c>Retry-After</c>, before any work. Admin routes are never limited by it (only wrong admin tokens are, per address: <see cref="Tls.AdminAuthenticationThrottle"/>).
/// </summary>
public sealed record ClientRateLimit(int PerSecond, int Burst)
{
    /// <summary>The name of the endpoint policy the unauthenticated route groups require.</summary>
    public const string PolicyName = "client-address";

    /// <summary><c>hgs server run</c>'s default: generous for a fabric's hosts, a bound for one flooding address.</summary>
    public static ClientRateLimit Default { get; } = new(100, 200);

    /// <summary>
    /// <c>off</c> or <c>0</c> (null: no limit), <c>N/s</c> or <c>N</c> (N per second, bursts of 2N); throws
    /// <see cref="FormatException"/> naming the accepted forms.
    /// </summary>
    public static ClientRateLimit? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string value = text.Trim();
        if (value is "off" or "0")
        {
            return null;
        }

        if (value.EndsWith("/s", StringComparison.Ordinal))
        {
            value = value[..^2];
        }

        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int perSecond) && perSecond is > 0 and <= 1_000_000
            ? new ClientRateLimit(perSecond, perSecond * 2)
            : throw new FormatException($"'{text}' is not a rate: use N/s (1 to 1000000 requests per second per client address) or off.");
    }

    /// <summary>Registers the limiter; <paramref name="limit"/> null admits everything (the policy still exists).</summary>
    internal static void AddTo(IServiceCollection services, ClientRateLimit? limit) =>
        services.AddRateLimiter(o =>
        {
            o.AddPolicy(PolicyName, http => limit is null
                ? RateLimitPartition.GetNoLimiter(string.Empty)
                : RateLimitPartition.GetTokenBucketLimiter(http.Connection.RemoteIpAddress?.ToString() ?? string.Empty, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limit.Burst,
                    TokensPerPeriod = limit.PerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            o.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan after) ? after : TimeSpan.FromSeconds(1);
                int seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
                context.HttpContext.RequestServices.GetRequiredService<OpenHgs.Service.Observability.HgsMetrics>().RateLimited();
                await ProblemMiddleware.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "RateLimited",
                    $"Too many requests from this address; retry after {seconds} s.", seconds).ConfigureAwait(false);
            };
        });
}
