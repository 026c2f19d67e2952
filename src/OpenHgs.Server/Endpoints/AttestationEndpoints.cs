using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Observability;

namespace OpenHgs.Server.Endpoints;

/// <summary><c>/attestation/v1</c>: guarded hosts ask for a nonce and present evidence. No credential: the evidence is the credential.</summary>
internal static class AttestationEndpoints
{
    public static void MapAttestationEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/attestation/v1").RequireRateLimiting(Hosting.ClientRateLimit.PolicyName).Problems(429, "RateLimited");
        group.MapPost("/challenge", async (AttestationService service, CancellationToken ct) =>
            Results.Json(await service.ChallengeAsync(ct).ConfigureAwait(false), WireJson.Default.ChallengeResponse))
            .Answers<ChallengeResponse>();

        group.MapPost("/attest", async (HttpContext context, AttestationService service, AuditWriter audit, HgsMetrics metrics) =>
        {
            AttestRequest? request = null;
            var verdict = await FlowMetrics.MeasureAsync(metrics, metrics.Attestation, () => AttestationInputAudit.RunAsync(audit, () => request, async () =>
            {
                request = await RequestReader.ReadAsync(context, WireJson.Default.AttestRequest).ConfigureAwait(false);
                return await service.AttestAsync(request, context.RequestAborted).ConfigureAwait(false);
            }, context.RequestAborted), v => v.Passed
                ? (HgsMetrics.Outcomes.Passed, HgsMetrics.NoCode)
                : (HgsMetrics.Outcomes.Refused, v.Failures[0].Code.ToString())).ConfigureAwait(false);
            return Results.Json(verdict.ToContract(), WireJson.Default.AttestResponse, statusCode: verdict.Passed ? 200 : 403);
        }).JsonBody<AttestRequest>().Answers<AttestResponse>().Answers<AttestResponse>(403)
            .WithDescription("200: Passed, with a health certificate. 403: the verdict (not problem+json): status and reasons[].code, one of "
                + string.Join(", ", Enum.GetNames<AttestationFailureCode>()) + ".")
            .Problems(400, "EvidenceMalformed", "NonceMalformed");
    }
}
