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
/// a wrong one, and none is rate limited.
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

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();
}
