using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Tls;
using OpenHgs.Service.Observability;
using OpenTelemetry.Metrics;

namespace OpenHgs.Server.Hosting;

/// <summary>Where <c>hgs server run --metrics</c> shows the Prometheus scrape endpoint.</summary>
public enum MetricsMode
{
    /// <summary><c>off</c> (the default): no endpoint; the instruments still count, nothing reads them.</summary>
    Off,

    /// <summary><c>admin</c>: <c>/metrics</c> on the service's own listeners, behind the admin credential.</summary>
    Admin,

    /// <summary><c>http://127.0.0.1:PORT</c>: <c>/metrics</c> on a separate plain-http loopback listener, without credential.</summary>
    Listener,
}

/// <summary>
/// How the metrics are exposed. Security contract: the scrape carries counts and timings under closed labels only
/// (<see cref="HgsMetrics"/>); still, on the service's listeners it is an admin route (the admin credential, and the
/// admin client certificate where configured), and the separate listener binds loopback only — never a routable
/// address without authentication — so a remote Prometheus scrapes <c>admin</c> with a bearer token file or through a
/// local agent.
/// </summary>
public sealed record MetricsExposure(MetricsMode Mode, Uri? ListenerUrl)
{
    /// <summary>The scrape path in every mode.</summary>
    public const string Path = "/metrics";

    public static MetricsExposure Off { get; } = new(MetricsMode.Off, null);

    public static MetricsExposure Admin { get; } = new(MetricsMode.Admin, null);

    /// <summary>
    /// <c>off</c>, <c>admin</c> or <c>http://LOOPBACK:PORT</c> (127.0.0.1, [::1] or localhost; port 1-65535); throws
    /// <see cref="HgsConfigurationException"/> (field <c>metrics</c>) naming the accepted forms.
    /// </summary>
    public static MetricsExposure Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        switch (text.Trim())
        {
            case "off":
                return Off;
            case "admin":
                return Admin;
        }

        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.IsDefaultPort
            || uri.Port is < 1 or > 65535 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
        {
            throw new HgsConfigurationException("metrics", $"--metrics '{text}' is not off, admin or http://127.0.0.1:PORT.");
        }

        if (!uri.IsLoopback)
        {
            throw new HgsConfigurationException("metrics",
                $"--metrics {text}: the separate metrics listener has no authentication, so it binds loopback only (127.0.0.1, [::1], localhost); scrape remotely with --metrics admin and the admin credential.");
        }

        return new MetricsExposure(MetricsMode.Listener, uri);
    }

    /// <summary>Registers the OpenTelemetry meter provider and, unless off, the Prometheus exporter this mode needs.</summary>
    internal void AddTo(IServiceCollection services)
    {
        if (Mode == MetricsMode.Off)
        {
            return;
        }

        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(HgsMetrics.MeterName);
            if (Mode == MetricsMode.Admin)
            {
                metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
            }
            else
            {
                metrics.AddPrometheusHttpListener(o =>
                {
                    o.Host = ListenerUrl!.Host;
                    o.Port = ListenerUrl.Port;
                    o.ScrapeEndpointPath = Path;
                    o.ScrapeResponseCacheDurationMilliseconds = 0;
                });
            }
        });
    }

    /// <summary>Maps <c>/metrics</c> behind the admin credential in <see cref="MetricsMode.Admin"/>.</summary>
    internal void MapTo(IEndpointRouteBuilder app)
    {
        if (Mode != MetricsMode.Admin)
        {
            return;
        }

        app.MapPrometheusScrapingEndpoint(Path, meterProvider: null, configureBranchedPipeline: branch => branch.Use(async (context, next) =>
        {
            // Throws the admin refusal (401/403); ProblemMiddleware, outside this branch, answers it as problem+json.
            await context.RequestServices.GetRequiredService<AdminAuthenticator>().AuthenticateAsync(context).ConfigureAwait(false);
            await next(context).ConfigureAwait(false);
        }), optionsName: null);
    }
}
