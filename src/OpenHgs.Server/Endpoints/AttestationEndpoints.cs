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
        group.MapPost("/challenge", (AttestationService service) => Results.Json(service.Challenge(), WireJson.Default.ChallengeResponse))
            .Answers<ChallengeResponse>()
            .WithDescription("A single-use nonce and its expiry (5 minutes). Stateless: nothing is written; the nonce carries its expiry and the "
                + "service's MAC, and the attestation that answers it records it as used in its one commit. An attestation's answer "
                + "carries nextChallenge, so a host attesting again needs no call here while that challenge is unexpired.");

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
            // Audited, logged and counted above with its precise reason; the caller gets the generic one (CallerVerdict).
            return Results.Json(CallerVerdict.Of(verdict).ToContract(service.Challenge()), WireJson.Default.AttestResponse, statusCode: verdict.Passed ? 200 : 403);
        }).JsonBody<AttestRequest>().Answers<AttestResponse>().Answers<AttestResponse>(403)
            .WithDescription("200: Passed, with a health certificate. 403: the verdict (not problem+json): status and reasons[].code, one of "
                + string.Join(", ", Enum.GetNames<AttestationFailureCode>()) + " (NonceUnknown: the nonce's MAC does not verify; NonceExpired; "
                + "NonceReplayed: an attestation already used it; EkNotRegistered is answered as AkNotActivated, so the answer does not say whether an EK is registered). Both carry nextChallenge {nonce, expiresAt} for the next attestation.")
            .Problems(400, "EvidenceMalformed", "NonceMalformed");
    }
}
