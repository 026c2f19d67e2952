using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using OpenHgs.Server.Hosting;

namespace OpenHgs.Server.Endpoints;

/// <summary>The problem codes (RFC 9457 <c>code</c>) a route answers with one HTTP status; several may apply to one route and status.</summary>
public sealed record ProblemCodes(int Status, IReadOnlyList<string> Codes);

/// <summary>
/// The JSON request body a route reads itself (<see cref="RequestReader"/>). Documentation only: unlike
/// <c>Accepts</c>, it adds no content-type matching, so a wrong media type still reaches the handler and is refused
/// and audited there (<c>UnsupportedMediaType</c>), not answered 415 by routing.
/// </summary>
public sealed record JsonRequestBody(Type Type);

/// <summary>
/// <c>/openapi/v1.json</c> (Microsoft.AspNetCore.OpenApi): every route, its request body, its answers and, per problem
/// status, the problem codes. Public like <c>/healthz</c> (it documents the API, not the fabric) and rate limited per
/// client address like the other unauthenticated routes.
/// </summary>
internal static class ApiDocumentation
{
    /// <summary>Where the document is served.</summary>
    public const string Path = "/openapi/v1.json";

    private const string ProblemJson = "application/problem+json";

    /// <summary>Problems every route can answer: the service failed, or its database, HSM or audit trail is unavailable (clients fail over).</summary>
    private static readonly ProblemCodes[] Common =
    [
        new(500, ["InternalError"]),
        new(503, ["DatabaseUnavailable", "KeyStoreUnavailable", "AuditUnavailable"]),
    ];

    /// <summary>Documents that the route answers <paramref name="status"/> with these problem codes.</summary>
    public static TBuilder Problems<TBuilder>(this TBuilder builder, int status, params string[] codes) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ProblemCodes(status, codes));

    /// <summary>Documents a JSON request body of <typeparamref name="TRequest"/>, read by <see cref="RequestReader"/> (its refusals included).</summary>
    public static RouteHandlerBuilder JsonBody<TRequest>(this RouteHandlerBuilder builder) where TRequest : notnull =>
        builder.WithMetadata(new JsonRequestBody(typeof(TRequest)))
            .Problems(400, "RequestMalformed", "UnsupportedMediaType")
            .Problems(413, "RequestTooLarge");

    /// <summary>Documents a JSON answer of <typeparamref name="TResponse"/> with <paramref name="status"/>.</summary>
    public static RouteHandlerBuilder Answers<TResponse>(this RouteHandlerBuilder builder, int status = StatusCodes.Status200OK) =>
        builder.Produces<TResponse>(status, "application/json");

    public static void AddTo(IServiceCollection services, MetricsExposure metrics) =>
        services.AddOpenApi("v1", o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "OpenHGS",
                    Version = "v1",
                    Description = "Host Guardian Service: attestation (/attestation/v1), key protection (/keyprotection/v1), administration (/admin/v1, admin credential), health (/healthz). "
                        + "Every error is application/problem+json with a stable 'code' (docs/operations.md).",
                };
                document.Paths ??= [];
                document.Paths[Path] = PlainGet("The OpenAPI document of this API (this document); public, rate limited per client address.", "application/json", (429, "RateLimited"));
                if (metrics.Mode == MetricsMode.Admin)
                {
                    document.Paths[MetricsExposure.Path] = PlainGet("Prometheus metrics (text exposition format); the admin credential is required.", "text/plain", AdminProblems);
                }

                return Task.CompletedTask;
            });
            o.AddOperationTransformer(async (operation, context, cancellationToken) =>
            {
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<JsonRequestBody>().FirstOrDefault() is { } body)
                {
                    operation.RequestBody = new OpenApiRequestBody
                    {
                        Required = true,
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false) },
                        },
                    };
                }

                var declared = context.Description.ActionDescriptor.EndpointMetadata.OfType<ProblemCodes>().Concat(Common);
                foreach (var group in declared.GroupBy(p => p.Status).OrderBy(g => g.Key))
                {
                    string codes = string.Join(", ", group.SelectMany(p => p.Codes).Distinct(StringComparer.Ordinal));
                    string key = group.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    operation.Responses ??= [];
                    operation.Responses[key] = new OpenApiResponse
                    {
                        Description = $"application/problem+json; code: {codes}",
                        Content = new Dictionary<string, OpenApiMediaType> { [ProblemJson] = new() { Schema = ProblemSchema() } },
                    };
                }
            });
        });

    /// <summary>Serves the document, rate limited like the other unauthenticated routes.</summary>
    public static void MapTo(IEndpointRouteBuilder app) =>
        app.MapOpenApi(Path).RequireRateLimiting(ClientRateLimit.PolicyName);

    /// <summary>The refusals of the admin credential check (<c>AdminAuthenticator</c>), as the admin routes document them.</summary>
    internal static readonly (int Status, string Codes)[] AdminProblems =
    [
        (401, "AdminCredentialRequired, AdminClientCertificateRequired"),
        (403, "AdminClientCertificateRejected"),
        (429, "AdminAuthenticationThrottled"),
    ];

    private static OpenApiPathItem PlainGet(string summary, string contentType, params (int Status, string Codes)[] problems)
    {
        var responses = new OpenApiResponses
        {
            ["200"] = new OpenApiResponse { Description = summary, Content = new Dictionary<string, OpenApiMediaType> { [contentType] = new() } },
        };
        foreach (var (status, code) in problems)
        {
            responses[status.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse
            {
                Description = $"application/problem+json; code: {code}",
                Content = new Dictionary<string, OpenApiMediaType> { [ProblemJson] = new() { Schema = ProblemSchema() } },
            };
        }

        return new OpenApiPathItem
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = new() { Summary = summary, Responses = responses } },
        };
    }

    /// <summary>The problem+json body (<see cref="ProblemMiddleware.WriteAsync"/>).</summary>
    private static OpenApiSchema ProblemSchema() => new()
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string>(["type", "title", "status", "detail", "code", "traceId"]),
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Stable machine-readable problem code." },
            ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String },
        },
    };
}
