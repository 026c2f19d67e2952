using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// Every route under <c>/admin/v1</c> that the running service maps (enumerated from its <see cref="EndpointDataSource"/>,
/// so a route mapped later outside the admin group fails here) refuses a request without the admin credential or with
/// a wrong one, and none is rate limited; only wrong tokens are counted, per address (<c>AdminAuthenticationThrottle</c>).
/// </summary>
public sealed partial class AdminRouteTests
{
    [Fact]
    public async Task Every_admin_route_requires_the_admin_credential()
    {
        await using var service = await ServiceHarness.StartAsync();
        var routes = service.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(route => (Route: route, Template: "/" + route.RoutePattern.RawText!.TrimStart('/')))
            .Where(r => r.Template.StartsWith("/admin/v1/", StringComparison.Ordinal))
            .ToList();
        Assert.True(routes.Count > 25, $"only {routes.Count} admin routes enumerated");

        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        foreach (var (route, template) in routes)
        {
            // Admin routes are never limited (ClientRateLimit): an operator locked out by a flood could not act on it.
            Assert.True(route.Metadata.GetMetadata<EnableRateLimitingAttribute>() is null, $"{template} is rate limited");
            // Any value for a route parameter: the credential is checked before the route looks at it.
            string path = RouteParameter().Replace(template, "x");
            foreach (string method in route.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            {
                foreach (string? token in new[] { null, "not-the-admin-token" })
                {
                    using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
                    if (token is not null)
                    {
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    }

                    using var response = await http.SendAsync(request);
                    string body = await response.Content.ReadAsStringAsync();
                    Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {template} ({token ?? "no token"}) answered {(int)response.StatusCode}: {body}");
                    using var problem = JsonDocument.Parse(body);
                    Assert.Equal("AdminCredentialRequired", problem.RootElement.GetProperty("code").GetString());
                }
            }
        }
    }

    [Fact]
    [Trait("Attack", "A93")]
    public async Task Wrong_admin_tokens_from_one_address_are_throttled_and_the_right_one_works_again_after_the_window()
    {
        await using var service = await ServiceHarness.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        async Task<(HttpStatusCode Status, string? Code, string? RetryAfter)> ListHostsAsync(string? token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("admin/v1/hosts", UriKind.Relative));
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            using var response = await http.SendAsync(request);
            string body = await response.Content.ReadAsStringAsync();
            string? code = response.StatusCode == HttpStatusCode.OK ? null : JsonDocument.Parse(body).RootElement.GetProperty("code").GetString();
            return (response.StatusCode, code, response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // A missing token is not a guess and is not counted; wrong ones are, up to the limit, each answered 401.
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal((HttpStatusCode.Unauthorized, "AdminCredentialRequired", null), await ListHostsAsync(null));
        }

        for (int i = 0; i < OpenHgs.Server.Tls.AdminAuthenticationThrottle.Limit; i++)
        {
            Assert.Equal((HttpStatusCode.Unauthorized, "AdminCredentialRequired", null), await ListHostsAsync($"guess-{i}"));
        }

        // From then on the address is refused without its credential being checked: the right token too.
        var throttled = await ListHostsAsync("one-more-guess");
        Assert.Equal((HttpStatusCode.TooManyRequests, "AdminAuthenticationThrottled"), (throttled.Status, throttled.Code));
        Assert.InRange(int.Parse(throttled.RetryAfter!, System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await ListHostsAsync(service.AdminToken)).Status);

        // The window ends a minute after the first wrong token.
        service.Time.Offset += TimeSpan.FromSeconds(61);
        Assert.Equal((HttpStatusCode.OK, null, null), await ListHostsAsync(service.AdminToken));
    }

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();
}
