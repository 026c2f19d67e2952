using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Server.Endpoints;
using OpenHgs.Server.Hosting;

namespace OpenHgs.Server.Dashboard;

/// <summary>
/// <c>/dashboard</c>: the admin's read-only web page (docs/dashboard.md). Security contract: the page, its script and
/// its style are static and hold no fabric data, so they are served without a credential (rate limited like the other
/// public routes). Everything the page shows comes from <c>GET /admin/v1</c> routes with the admin credential, which
/// the page keeps in memory only: never in storage or a cookie, so another site cannot make the browser use it (no
/// CSRF), and closing the tab forgets it. The page only reads: it never calls a route that changes anything. It is
/// served with a Content-Security-Policy that allows no inline script, no other origin and no framing, and the script
/// writes fabric data only as text nodes, so a hostile string in a host name or an audit record cannot run.
/// </summary>
internal static class DashboardEndpoints
{
    /// <summary>Where the page is served.</summary>
    public const string Path = "/dashboard";

    /// <summary>
    /// Scripts and styles from this origin only, requests to this origin only, no plugins, no forms posted anywhere, no
    /// framing (clickjacking), no base-URI rewriting.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly DashboardAsset[] Assets =
    [
        new(Path, "index.html", "text/html; charset=utf-8", "The read-only admin dashboard (a static page; its data needs the admin credential)."),
        new(Path + "/dashboard.js", "dashboard.js", "text/javascript; charset=utf-8", "The dashboard's script."),
        new(Path + "/dashboard.css", "dashboard.css", "text/css; charset=utf-8", "The dashboard's style."),
    ];

    public static void MapDashboardEndpoints(this IEndpointRouteBuilder app)
    {
        foreach (var asset in Assets)
        {
            byte[] content = asset.Load();
            app.MapGet(asset.Route, (HttpContext context) =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers.CacheControl = "no-store";
                headers["Referrer-Policy"] = "no-referrer";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
                headers["Cross-Origin-Resource-Policy"] = "same-origin";
                return Results.Bytes(content, asset.ContentType);
            })
            .WithSummary(asset.Summary)
            .Produces(200, contentType: asset.ContentType.Split(';')[0])
            .RequireRateLimiting(ClientRateLimit.PolicyName)
            .Problems(429, "RateLimited");
        }
    }

    /// <summary>One static file of the page, embedded in this assembly (nothing is read from disk at run time).</summary>
    private sealed record DashboardAsset(string Route, string Resource, string ContentType, string Summary)
    {
        public byte[] Load()
        {
            string name = typeof(DashboardEndpoints).Namespace + "." + Resource;
            using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"The dashboard resource {name} is missing from the build.");
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
    }
}
