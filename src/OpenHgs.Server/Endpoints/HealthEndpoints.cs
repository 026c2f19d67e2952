using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Server.Endpoints;

/// <summary>
/// <c>/healthz</c>: live means the process answers; ready means the database and the key store both answer and every role has a primary key.
/// A clustered key store (<see cref="IKeyStoreHealth"/>) also reports each member (<c>keyStore.m1</c>: up/down, last error, next retry).
/// </summary>
internal static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz/live", () => Results.Json(new HealthReport("live", new Dictionary<string, string>()), WireJson.Default.HealthReport));
        app.MapGet("/healthz", ReadyAsync);
        app.MapGet("/healthz/ready", ReadyAsync);
    }

    private static async Task<IResult> ReadyAsync(IHgsDatabase database, IKeyStore store, FabricKeyManager keys, CancellationToken ct)
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal);
        checks["database"] = await database.PingAsync(ct).ConfigureAwait(false) ? "ok" : "unavailable";
        try
        {
            var snapshot = await keys.GetSnapshotAsync(ct).ConfigureAwait(false);
            foreach (var role in Enum.GetValues<FabricKeyRole>())
            {
                var primary = snapshot.Primary(role);
                store.EnsureHeld(primary);
            }

            checks["keyStore"] = "ok";
        }
        catch (Exception ex) when (ex is KeyStoreUnavailableException or DatabaseUnavailableException or OpenHgs.Service.ServiceException or KeyNotFoundInStoreException)
        {
            checks["keyStore"] = "unavailable: " + ex.Message;
        }

        bool ready = checks.Values.All(v => v == "ok");
        if (store is IKeyStoreHealth health)
        {
            // Reported, not required: the key store is ready while one member answers (the keyStore check above).
            foreach (var member in health.Members)
            {
                checks[$"keyStore.{member.Name}"] = member.Describe();
            }
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
}
