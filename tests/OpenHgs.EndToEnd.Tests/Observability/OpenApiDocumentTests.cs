using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Hosting;

namespace OpenHgs.EndToEnd.Tests.Observability;

/// <summary>
/// <c>/openapi/v1.json</c> is a valid OpenAPI 3 document that describes every route the service maps (enumerated from
/// its <see cref="EndpointDataSource"/>, so a route added later without documentation fails here), with request bodies
/// and problem codes per status; it is public and rate limited like the other unauthenticated routes.
/// </summary>
public sealed class OpenApiDocumentTests
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    [Fact]
    public async Task The_document_is_valid_and_documents_every_mapped_route()
    {
        await using var service = await ServiceHarness.StartAsync(metrics: MetricsExposure.Admin);
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        using var response = await http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative)); // no credential
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;

        Assert.StartsWith("3.", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal("OpenHGS", root.GetProperty("info").GetProperty("title").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("info").GetProperty("version").GetString()));
        var paths = root.GetProperty("paths");
        Assert.True(paths.EnumerateObject().Any());
        foreach (var path in paths.EnumerateObject())
        {
            Assert.StartsWith("/", path.Name, StringComparison.Ordinal);
            var operations = path.Value.EnumerateObject().Where(o => Methods.Contains(o.Name)).ToList();
            Assert.True(operations.Count > 0, $"{path.Name} has no operation");
            foreach (var operation in operations)
            {
                var responses = operation.Value.GetProperty("responses");
                Assert.True(responses.EnumerateObject().Any(), $"{operation.Name} {path.Name} has no responses");
                foreach (var answer in responses.EnumerateObject())
                {
                    Assert.Matches("^[1-5][0-9][0-9]$", answer.Name);
                    Assert.True(answer.Value.TryGetProperty("description", out _), $"{operation.Name} {path.Name} {answer.Name} has no description");
                }
            }
        }

        // Every route the running service maps is in the document, with each of its methods.
        var routes = service.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        Assert.True(routes.Count > 30, $"only {routes.Count} routes enumerated");
        foreach (var route in routes)
        {
            string template = "/" + route.RoutePattern.RawText!.TrimStart('/');
            Assert.True(paths.TryGetProperty(template, out var item), $"route {template} is not documented");
            var methods = route.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [];
            foreach (string method in methods)
            {
                Assert.True(item.TryGetProperty(method.ToLowerInvariant(), out _), $"{method} {template} is not documented");
            }
        }

        var release = paths.GetProperty("/keyprotection/v1/release").GetProperty("post");
        Assert.True(release.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.Contains("HealthCertificateExpired", ProblemDescription(release, "403"), StringComparison.Ordinal);
        Assert.Contains("KeyProtectorGuardianSignatureInvalid", ProblemDescription(release, "403"), StringComparison.Ordinal);
        Assert.Contains("RateLimited", ProblemDescription(release, "429"), StringComparison.Ordinal);
        Assert.Contains("RequestMalformed", ProblemDescription(release, "400"), StringComparison.Ordinal);
        Assert.Contains("KeyStoreUnavailable", ProblemDescription(release, "503"), StringComparison.Ordinal);
        var problem = release.GetProperty("responses").GetProperty("403").GetProperty("content").GetProperty("application/problem+json").GetProperty("schema");
        Assert.Contains("code", problem.GetProperty("required").EnumerateArray().Select(e => e.GetString()));

        var attest = paths.GetProperty("/attestation/v1/attest").GetProperty("post");
        Assert.True(attest.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.Contains("HostKeyNotRegistered", attest.GetProperty("description").GetString(), StringComparison.Ordinal);

        var addKey = paths.GetProperty("/admin/v1/keys").GetProperty("post");
        Assert.Contains("AdminCredentialRequired", ProblemDescription(addKey, "401"), StringComparison.Ordinal);
        Assert.True(addKey.GetProperty("responses").TryGetProperty("201", out _));
        Assert.Contains("AdminCredentialRequired", ProblemDescription(paths.GetProperty("/metrics").GetProperty("get"), "401"), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A86")]
    public async Task The_document_is_rate_limited_per_client_address()
    {
        await using var service = await ServiceHarness.StartAsync(rateLimit: new ClientRateLimit(PerSecond: 1, Burst: 3));
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        int limited = 0;
        for (int i = 0; i < 30; i++)
        {
            using var response = await http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited++;
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal("RateLimited", body.RootElement.GetProperty("code").GetString());
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        Assert.True(limited > 0, "30 requests from one address exceed a burst of 3 + 1/s");
    }

    private static string ProblemDescription(JsonElement operation, string status) =>
        operation.GetProperty("responses").GetProperty(status).GetProperty("description").GetString()!;
}
