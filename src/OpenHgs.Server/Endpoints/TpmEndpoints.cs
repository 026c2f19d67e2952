using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Policies;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// TPM mode routes: AK activation for hosts (<c>/attestation/v1/tpm/activate</c>, no credential: only the TPM holding
/// the registered EK can complete it), and the admin's TPM roots, TPM hosts, policies and baselines (admin credential).
/// </summary>
internal static class TpmEndpoints
{
    public static void MapTpmEndpoints(this IEndpointRouteBuilder app)
    {
        var attestation = app.MapGroup("/attestation/v1/tpm").RequireRateLimiting(Hosting.ClientRateLimit.PolicyName).Problems(429, "RateLimited");
        attestation.MapPost("/activate", async (HttpContext context, TpmEnrollmentService enrollment) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.ActivationRequest).ConfigureAwait(false);
            return Results.Json(await enrollment.StartActivationAsync(request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.ActivationChallenge);
        }).JsonBody<ActivationRequest>().Answers<ActivationChallenge>().Problems(400, "AkAttributesRejected", "AkNameAlgRejected", "EkUnsupported", "EvidenceMalformed");
        attestation.MapPost("/activate/complete", async (HttpContext context, TpmEnrollmentService enrollment) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.ActivationCompletion).ConfigureAwait(false);
            return Results.Json(await enrollment.CompleteActivationAsync(request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.ActivationResult);
        }).JsonBody<ActivationCompletion>().Answers<ActivationResult>().Problems(400, "AkNameAlgRejected", "EvidenceMalformed").Problems(403, "ActivationExpired", "ActivationInvalid", "EkNotRegistered");
    }

    /// <summary>TPM roots, TPM hosts, policies and baselines, on the admin group (<see cref="AdminEndpoints.MapAdminEndpoints"/>).</summary>
    public static void MapTpmAdminEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/tpm-roots", async (TpmEnrollmentService enrollment, CancellationToken ct) =>
            Results.Json((await enrollment.ListRootsAsync(ct).ConfigureAwait(false)).ToList(), WireJson.Default.ListTpmRootInfo))
            .Answers<List<TpmRootInfo>>();
        admin.MapDelete("/tpm-roots/{thumbprint}", async (string thumbprint, TpmEnrollmentService enrollment, CancellationToken ct) =>
            Results.Json(await enrollment.RemoveRootAsync(thumbprint, ct).ConfigureAwait(false), WireJson.Default.TpmRootInfo))
            .Answers<TpmRootInfo>().Problems(400, "TpmRootThumbprintInvalid").Problems(404, "TpmRootNotFound").Problems(409, "TpmRootAmbiguous");
        admin.MapPost("/tpm-roots", async (HttpContext context, TpmEnrollmentService enrollment) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddTpmRootRequest).ConfigureAwait(false);
            return Results.Json(await enrollment.AddRootAsync(request.Certificate, context.RequestAborted).ConfigureAwait(false), WireJson.Default.TpmRootInfo, statusCode: 201);
        }).JsonBody<AddTpmRootRequest>().Answers<TpmRootInfo>(201).Problems(400, "CertificateMalformed").Problems(409, "TpmRootExists");
        admin.MapGet("/tpm-crls", async (TpmCrlService crls, CancellationToken ct) =>
            Results.Json((await crls.ListAsync(ct).ConfigureAwait(false)).ToList(), WireJson.Default.ListTpmCrlInfo))
            .Answers<List<TpmCrlInfo>>();
        admin.MapPost("/tpm-crls", async (HttpContext context, TpmCrlService crls) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddTpmCrlRequest).ConfigureAwait(false);
            return Results.Json(await crls.AddAsync(request.Crl, context.RequestAborted).ConfigureAwait(false), WireJson.Default.TpmCrlInfo, statusCode: 201);
        }).JsonBody<AddTpmCrlRequest>().Answers<TpmCrlInfo>(201)
            .Problems(400, "TpmCrlMalformed", "TpmCrlUnsupported", "TpmCrlExpired", "TpmCrlIssuerUnknown", "TpmCrlSignatureInvalid")
            .Problems(409, "TpmCrlRollback", "TpmCrlExists");
        admin.MapDelete("/tpm-crls/{issuer}", async (string issuer, TpmCrlService crls, CancellationToken ct) =>
            Results.Json(await crls.RemoveAsync(issuer, ct).ConfigureAwait(false), WireJson.Default.TpmCrlInfo))
            .Answers<TpmCrlInfo>().Problems(400, "TpmCrlIssuerInvalid").Problems(404, "TpmCrlNotFound").Problems(409, "TpmCrlAmbiguous");
        admin.MapPost("/hosts/tpm", async (HttpContext context, TpmEnrollmentService enrollment) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddTpmHostRequest).ConfigureAwait(false);
            return Results.Json(await enrollment.AddHostAsync(request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.HostInfo, statusCode: 201);
        }).JsonBody<AddTpmHostRequest>().Answers<HostInfo>(201)
            .Problems(400, "HostNameInvalid", "EkUnsupported", "EkCertificateRequired", "CertificateMalformed").Problems(403, "EkCertificate").Problems(409, "HostExists");
        admin.MapPut("/hosts/{name}/ek-certificate", async (string name, HttpContext context, TpmEnrollmentService enrollment) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.SetEkCertificateRequest).ConfigureAwait(false);
            return Results.Json(await enrollment.SetEkCertificateAsync(name, request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.HostInfo);
        }).JsonBody<SetEkCertificateRequest>().Answers<HostInfo>()
            .Problems(400, "HostNameInvalid", "HostNotTpm", "EvidenceMalformed").Problems(403, "EkCertificate").Problems(404, "UnknownHost").Problems(409, "EkCertificateAlreadyStored");

        admin.MapGet("/policies", async (PolicyService policies, CancellationToken ct) =>
            Results.Json((await policies.ListAsync(ct).ConfigureAwait(false)).ToList(), WireJson.Default.ListPolicyInfo))
            .Answers<List<PolicyInfo>>();
        admin.MapPut("/policies/{name}/{state}", async (string name, string state, PolicyService policies, CancellationToken ct) =>
            Results.Json(await policies.SetStateAsync(name, PolicyService.ParseState(state), ct).ConfigureAwait(false), WireJson.Default.PolicyChangeResult))
            .Answers<PolicyChangeResult>().Problems(400, "UnknownPolicyState").Problems(404, "UnknownPolicy").Problems(503, "PolicyChanging");
        admin.MapGet("/policy-set", async (PolicyService policies, CancellationToken ct) =>
            Results.Json(await policies.ExportAsync(ct).ConfigureAwait(false), WireJson.Default.PolicySet))
            .Answers<PolicySet>().Problems(503, "PolicyChanging");
        admin.MapGet("/baselines", async (PolicyService policies, CancellationToken ct) =>
            Results.Json((await policies.ListBaselinesAsync(ct).ConfigureAwait(false)).ToList(), WireJson.Default.ListBaselineInfo))
            .Answers<List<BaselineInfo>>();
        admin.MapDelete("/baselines/{name}", async (string name, PolicyService policies, CancellationToken ct) =>
            Results.Json(await policies.RemoveBaselineAsync(name, ct).ConfigureAwait(false), WireJson.Default.PolicyChangeResult))
            .Answers<PolicyChangeResult>().Problems(404, "BaselineNotFound");
        admin.MapPost("/baselines", async (HttpContext context, PolicyService policies) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddBaselineRequest).ConfigureAwait(false);
            return Results.Json(await policies.AddBaselineAsync(request, context.RequestAborted).ConfigureAwait(false), WireJson.Default.BaselineInfo, statusCode: 201);
        }).JsonBody<AddBaselineRequest>().Answers<BaselineInfo>(201).Problems(400, "BaselineInvalid", "BaselineNameInvalid").Problems(409, "BaselineExists");
    }
}
