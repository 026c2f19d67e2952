using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service;
using OpenHgs.Service.Admin;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Observability;

namespace OpenHgs.Server.Endpoints;

/// <summary><c>/keyprotection/v1</c>: key release for healthy hosts, and the fabric guardian's public metadata for tenants.</summary>
internal static class KeyProtectionEndpoints
{
    /// <summary>The 403 codes of a release: the health certificate's, the grant's and the key protector's (<c>KeyProtector</c> + its error).</summary>
    private static readonly string[] ReleaseRefusals =
    [
        "HealthCertificateMalformed", "HealthCertificateExpired", "HealthCertificateNotYetValid", "HealthCertificateUntrustedSigner",
        "HealthCertificateIssuedBeforeDenyDate", "HealthCertificateModeMismatch", "NotGrantedToFabric", "KpsKeyDisabled",
        "KeyProtectorTransportKeyUnwrapFailed", "TransportKeyRewrapRefused",
        .. Enum.GetNames<OpenHgs.Protocol.KeyProtection.KeyProtectorError>().Select(e => "KeyProtector" + e),
    ];

    public static void MapKeyProtectionEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/keyprotection/v1").RequireRateLimiting(Hosting.ClientRateLimit.PolicyName).Problems(429, "RateLimited");
        group.MapPost("/release", (HttpContext context, KeyReleaseService service, HgsMetrics metrics) => FlowMetrics.MeasureAsync(
            metrics, metrics.Release, () => ReleaseAsync(context, service), _ => (HgsMetrics.Outcomes.Released, HgsMetrics.NoCode)))
            .JsonBody<ReleaseRequest>().Answers<ReleaseResponse>()
            .Problems(403, ReleaseRefusals)
            .Problems(503, "TransportKeyHsmOnly", "KpsSigningKeyMissing");

        // Public, like HGS's KPS metadata endpoint: tenants import it to grant the fabric.
        group.MapGet("/metadata", async (FabricKeyManager keys, SettingsService settings, CancellationToken ct) =>
        {
            var current = await settings.GetAsync(ct).ConfigureAwait(false);
            var metadata = await keys.ExportGuardianAsync(current.FabricName, ct).ConfigureAwait(false);
            return Results.Text(metadata.ToJson(), "application/json");
        }).Produces(200, contentType: "application/json").Problems(503, "NoPrimaryKey", "GuardianIncomplete");
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, KeyReleaseService service)
    {
        ReleaseRequest request;
        try
        {
            request = await RequestReader.ReadAsync(context, WireJson.Default.ReleaseRequest).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ServiceException or BadHttpRequestException || context.RequestAborted.IsCancellationRequested)
        {
            // Unreadable release requests are refusals too, and every refusal is audited, even when the client
            // is gone (a body cut short by a disconnect): not with RequestAborted, which has fired by then.
            string code = ex is ServiceException refusal ? refusal.Code : "RequestMalformed";
            await service.AuditUnreadableAsync(code, context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping).ConfigureAwait(false);
            throw;
        }

        return Results.Json(await service.ReleaseAsync(request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.ReleaseResponse);
    }
}
