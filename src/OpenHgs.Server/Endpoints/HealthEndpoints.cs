using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// <c>/healthz</c>: live means the process answers; ready means the database and the key store both answer, every role has a primary key
/// and the settings rows verify (their MACs). A clustered key store (<see cref="IKeyStoreHealth"/>) also reports each member
/// (<c>keyStore.m1</c>: up/down, next retry), <c>releaseKeyHandling</c> says where releases handle transport keys, and
/// <c>fabricKeys</c> reports fabric_keys rows that are ignored because their MAC fails or the key store does not hold their key
/// (both reported, not required: the trusted keys still serve).
/// The endpoint needs no credential, so it shows states only; why something is unavailable (token labels, module
/// paths, driver errors) goes to the service log.
/// </summary>
internal static partial class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz/live", () => Results.Json(new HealthReport("live", new Dictionary<string, string>()), WireJson.Default.HealthReport)).Answers<HealthReport>();
        app.MapGet("/healthz", ReadyAsync).Answers<HealthReport>().Answers<HealthReport>(503);
        app.MapGet("/healthz/ready", ReadyAsync).Answers<HealthReport>().Answers<HealthReport>(503);
    }

    private static async Task<IResult> ReadyAsync(
        IHgsDatabase database, IKeyStore store, FabricKeyManager keys, SettingsService settings, TransportKeyHandling handling, ILoggerFactory loggers, IServiceProvider services, CancellationToken ct)
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal);
        checks["database"] = await database.PingAsync(ct).ConfigureAwait(false) ? "ok" : "unavailable";
        FabricKeySnapshot? snapshot = null;
        try
        {
            await settings.GetAsync(ct).ConfigureAwait(false);
            checks["settings"] = "ok";
        }
        catch (OpenHgs.Service.ServiceException ex) when (ex.Code == RowIntegrityProblems.SettingsIntegrity)
        {
            checks["settings"] = "integrity check failed";
        }
        catch (DatabaseUnavailableException)
        {
            checks["settings"] = "unavailable";
        }

        try
        {
            snapshot = await keys.GetSnapshotAsync(ct).ConfigureAwait(false);
            foreach (var role in Enum.GetValues<FabricKeyRole>())
            {
                var primary = snapshot.Primary(role);
                store.EnsureHeld(primary);
            }

            checks["keyStore"] = "ok";
        }
        catch (Exception ex) when (ex is KeyStoreUnavailableException or DatabaseUnavailableException or OpenHgs.Service.ServiceException or KeyNotFoundInStoreException)
        {
            checks["keyStore"] = "unavailable";
            LogKeyStoreNotReady(loggers.CreateLogger(typeof(HealthEndpoints).FullName!), ex.GetType().Name, ex.Message);
        }

        bool ready = checks.Values.All(v => v == "ok");
        checks["releaseKeyHandling"] = handling.Describe();
        if (snapshot is not null)
        {
            checks["fabricKeys"] = snapshot.Rejected.Count == 0
                ? $"ok ({snapshot.Keys.Count} trusted)"
                : $"{snapshot.Keys.Count} trusted; IGNORED: {string.Join(", ", snapshot.Rejected.Select(r => $"{r.Id} ({r.Reason})"))}";
        }

        if (store is IKeyStoreHealth health)
        {
            // Reported, not required: the key store is ready while one member answers (the keyStore check above).
            foreach (var member in health.Members)
            {
                checks[$"keyStore.{member.Name}"] = member.State == KeyStoreMemberState.Up
                    ? $"up ({member.Operations} operations, {member.Failures} failures)"
                    : $"down; retry at {member.NextRetry:O}";
                if (member.State != KeyStoreMemberState.Up)
                {
                    LogMemberDown(loggers.CreateLogger(typeof(HealthEndpoints).FullName!), member.Name, member.LastError ?? "not opened");
                }
            }
        }

        if (services.GetService(typeof(Hosting.AuditFileSink)) is Hosting.AuditFileSink sink)
        {
            // Reported, not required: the database trail is the one that fails closed; this is its copy.
            var status = sink.Status;
            checks["auditFile"] = status.LastError is null ? $"ok (record {status.LastSequence})" : $"failing after record {status.LastSequence}";
        }

        return Results.Json(new HealthReport(ready ? "ready" : "unavailable", checks), WireJson.Default.HealthReport, statusCode: ready ? 200 : 503);
    }

    /// <summary>Asks the store for the key (a real round trip to the token), without using it.</summary>
    private static void EnsureHeld(this IKeyStore store, FabricKey key)
    {
        if (store.FindKey(key.Record.Label) is null)
        {
            throw new KeyNotFoundInStoreException(key.Record.Label);
        }
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Warning, Message = "Readiness: key store not ready ({ErrorType}): {Detail}")]
    private static partial void LogKeyStoreNotReady(ILogger logger, string errorType, string detail);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Readiness: key store member {Member} is down: {Detail}")]
    private static partial void LogMemberDown(ILogger logger, string member, string detail);
}
