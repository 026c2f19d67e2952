using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Server.Tls;
using OpenHgs.Service;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary><c>/admin/v1</c>: the only routes that accept, and require, the admin credential (bearer and/or client certificate, <see cref="AdminAuthenticator"/>).</summary>
internal static class AdminEndpoints
{
    /// <summary>
    /// The one place <c>/admin/v1</c> is mapped: each area maps its admin routes onto this group, so none can miss the
    /// credential check or its documented refusals. Admin routes are not rate limited (<see cref="Hosting.ClientRateLimit"/>); only wrong tokens are counted, per address (<see cref="Tls.AdminAuthenticationThrottle"/>).
    /// </summary>
    public static void MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin/v1").AddEndpointFilter(RequireAdminAsync).AdminProblems();
        admin.MapFabricAdminEndpoints();
        admin.MapAuditCheckpointEndpoints();
        admin.MapTpmAdminEndpoints();
    }

    /// <summary>Fabric keys, hosts, the guardian, settings, the audit log and the key store's members.</summary>
    private static void MapFabricAdminEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/keys", async (FabricKeyManager keys, CancellationToken ct) =>
            Results.Json((await keys.GetSnapshotAsync(ct).ConfigureAwait(false)).Keys.Select(ToInfo).ToList(), WireJson.Default.ListFabricKeyInfo))
            .Answers<List<FabricKeyInfo>>().Problems(409, "FabricKeyIntegrity");
        admin.MapPost("/keys", async (HttpContext context, FabricKeyManager keys) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddKeyRequest).ConfigureAwait(false);
            var record = await keys.AddAsync(FabricKeyRoles.Parse(request.Role), context.RequestAborted).ConfigureAwait(false);
            var snapshot = await keys.GetSnapshotAsync(context.RequestAborted).ConfigureAwait(false);
            return Results.Json(ToInfo(snapshot.Keys.Single(k => k.Id == record.Id)), WireJson.Default.FabricKeyInfo, statusCode: 201);
        }).JsonBody<AddKeyRequest>().Answers<FabricKeyInfo>(201).Problems(400, "UnknownKeyRole");
        // How the key store holds every key the fabric uses (token attributes, copy by copy): for a security officer.
        admin.MapGet("/keys/custody", async (KeyCustodyCheck custody, CancellationToken ct) =>
            Results.Json(KeyCustodyContracts.ToReport(await custody.CheckAsync(ct).ConfigureAwait(false)), WireJson.Default.KeyCustodyReport))
            .Answers<KeyCustodyReport>();
        admin.MapPost("/keys/{id}/primary", (string id, FabricKeyManager keys, CancellationToken ct) => NoContent(keys.SetPrimaryAsync(id, ct)))
            .Produces(204).Problems(404, "UnknownKey").Problems(409, "KeyDisabled", "FabricKeyIntegrity");
        admin.MapPost("/keys/{id}/enable", (string id, FabricKeyManager keys, CancellationToken ct) => NoContent(keys.SetEnabledAsync(id, true, ct)))
            .Produces(204).Problems(404, "UnknownKey").Problems(409, "FabricKeyIntegrity");
        admin.MapPost("/keys/{id}/disable", (string id, FabricKeyManager keys, CancellationToken ct) => NoContent(keys.SetEnabledAsync(id, false, ct)))
            .Produces(204).Problems(404, "UnknownKey").Problems(409, "KeyIsPrimary", "FabricKeyIntegrity");
        admin.MapDelete("/keys/{id}", (string id, FabricKeyManager keys, CancellationToken ct) => NoContent(keys.RemoveAsync(id, ct)))
            .Produces(204).Problems(404, "UnknownKey").Problems(409, "KeyIsPrimary", "FabricKeyIntegrity");

        // A page, never the whole table (design change 87): each row costs a MAC check in the key store.
        admin.MapGet("/hosts", async (string? limit, string? after, string? prefix, HostRegistry hosts, CancellationToken ct) =>
            Results.Json(await hosts.ListPageAsync(HostPageQuery.Parse(limit, after, prefix), ct).ConfigureAwait(false), WireJson.Default.HostPage))
            .Answers<HostPage>().Problems(400, HostPageQuery.InvalidCode);
        admin.MapPost("/hosts/key", async (HttpContext context, HostRegistry hosts) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.AddHostKeyRequest).ConfigureAwait(false);
            return Results.Json(await hosts.AddHostKeyAsync(request.Name, request.PublicKey, context.RequestAborted).ConfigureAwait(false), WireJson.Default.HostInfo, statusCode: 201);
        }).JsonBody<AddHostKeyRequest>().Answers<HostInfo>(201)
            .Problems(400, "HostNameInvalid", "PublicKeyMalformed", "PublicKeyUnsupported").Problems(409, "HostExists", "HostKeyInUse");
        admin.MapDelete("/hosts/{name}", (string name, HostRegistry hosts, CancellationToken ct) => NoContent(hosts.RemoveAsync(name, ct)))
            .Produces(204).Problems(404, "UnknownHost");

        admin.MapGet("/guardian", async (FabricKeyManager keys, SettingsService settings, CancellationToken ct) =>
        {
            var current = await settings.GetAsync(ct).ConfigureAwait(false);
            return Results.Text((await keys.ExportGuardianAsync(current.FabricName, ct).ConfigureAwait(false)).ToJson(), "application/json");
        }).Produces(200, contentType: "application/json").Problems(503, "NoPrimaryKey", "GuardianIncomplete");

        admin.MapGet("/settings", async (SettingsService settings, CancellationToken ct) =>
            Results.Json((await settings.GetAsync(ct).ConfigureAwait(false)).ToContract(), WireJson.Default.ServiceSettings))
            .Answers<ServiceSettings>().Problems(503, "SettingsIntegrity");
        admin.MapPut("/settings/mode/{mode}", (string mode, SettingsService settings, CancellationToken ct) =>
            NoContent(settings.SetModeAsync(SettingsService.ParseMode(mode), ct)))
            .Produces(204).Problems(400, "UnknownMode").Problems(503, "SettingsIntegrity");
        admin.MapPut("/settings/validity", async (HttpContext context, SettingsService settings) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.ValidityRequest).ConfigureAwait(false);
            await settings.SetValidityAsync(TimeSpan.FromMinutes(request.HealthCertificateValidityMinutes), context.RequestAborted).ConfigureAwait(false);
            return Results.NoContent();
        }).JsonBody<ValidityRequest>().Produces(204).Problems(400, "ValidityOutOfRange").Problems(503, "SettingsIntegrity");
        admin.MapPut("/settings/deny-before", async (HttpContext context, SettingsService settings) =>
        {
            var request = await RequestReader.ReadAsync(context, WireJson.Default.DenyBeforeRequest).ConfigureAwait(false);
            switch (request)
            {
                case { Now: true, DenyBefore: not null }:
                    throw ServiceException.BadRequest("DenyBeforeAmbiguous", "Give either an instant (denyBefore) or now: true, not both.");
                case { Now: true }:
                    await settings.SetDenyBeforeNowAsync(context.RequestAborted).ConfigureAwait(false);
                    break;
                default:
                    await settings.SetDenyBeforeAsync(request.DenyBefore, context.RequestAborted).ConfigureAwait(false);
                    break;
            }

            return Results.NoContent();
        }).JsonBody<DenyBeforeRequest>().Produces(204).Problems(400, "DenyBeforeAmbiguous").Problems(503, "SettingsIntegrity");

        admin.MapGet("/audit", async (string? limit, string? since, string? @event, string? subject, string? after, string? outcome, IHgsDatabase database, CancellationToken ct) =>
        {
            var query = AuditQueryParser.Parse(limit, since, @event, subject, after, outcome);
            var entries = await database.ReadAsync(s => s.Audit.QueryAsync(query), ct).ConfigureAwait(false);
            return Results.Json(entries.Select(ToInfo).ToList(), WireJson.Default.ListAuditRecordInfo);
        }).Answers<List<AuditRecordInfo>>().Problems(400, "AuditQueryInvalid");

        // Every subject's newest attestation record: each host's last verdict (and each unregistered EK or key that tried).
        admin.MapGet("/attestations/latest", async (string? limit, IHgsDatabase database, CancellationToken ct) =>
        {
            int count = AuditQueryParser.Parse(limit, null, null, null, null).Limit;
            var entries = await database.ReadAsync(s => s.Audit.LatestPerSubjectAsync(AuditEvents.Attestation, count), ct).ConfigureAwait(false);
            return Results.Json(entries.Select(ToInfo).ToList(), WireJson.Default.ListAuditRecordInfo);
        }).Answers<List<AuditRecordInfo>>().Problems(400, "AuditQueryInvalid");

        // The members of a clustered key store with their last error (the public /healthz shows states only); empty for a single store.
        admin.MapGet("/key-store/members", (IKeyStore store) =>
            Results.Json(
                (store is IKeyStoreHealth health ? health.Members : []).Select(m => new KeyStoreMemberInfo(
                    m.Name, m.Location, m.State == KeyStoreMemberState.Up ? "up" : "down", m.LastError, m.Failures, m.NextRetry, m.Operations)).ToList(),
                WireJson.Default.ListKeyStoreMemberInfo))
            .Answers<List<KeyStoreMemberInfo>>();
    }

    private static AuditRecordInfo ToInfo(AuditEntry e) => AuditRecordInfos.From(e);

    /// <summary>The refusals of <see cref="RequireAdminAsync"/>, documented on every admin route.</summary>
    private static RouteGroupBuilder AdminProblems(this RouteGroupBuilder group) =>
        ApiDocumentation.AdminProblems.Aggregate(group, (g, p) => g.Problems(p.Status, p.Codes.Split(", ")));

    private static async Task<IResult> NoContent(Task change)
    {
        await change.ConfigureAwait(false);
        return Results.NoContent();
    }

    private static FabricKeyInfo ToInfo(FabricKey key) => new(
        key.Id,
        key.Record.Role,
        key.Record.Algorithm,
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(key.Record.Certificate)),
        key.Record.IsPrimary,
        key.Record.Enabled,
        key.Record.CreatedAt,
        new DateTimeOffset(key.Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero),
        Convert.ToBase64String(key.Record.Certificate));

    private static async ValueTask<object?> RequireAdminAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var authenticator = http.RequestServices.GetService(typeof(AdminAuthenticator)) as AdminAuthenticator
            ?? throw new InvalidOperationException("AdminAuthenticator is not registered.");
        await authenticator.AuthenticateAsync(http).ConfigureAwait(false);
        return await next(context).ConfigureAwait(false);
    }
}
