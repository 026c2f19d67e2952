using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Dashboard;
using OpenHgs.Server.Endpoints;
using OpenHgs.Server.Tls;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Observability;
using OpenHgs.Service.Policies;
using OpenHgs.Storage;

namespace OpenHgs.Server.Hosting;

/// <summary>Builds the OpenHGS web host: attestation, key protection and admin route groups over one key store and database.</summary>
public static partial class HgsServer
{
    public static async Task<WebApplication> BuildAsync(HgsServerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        BenchFloorEndpoints.Validate(options.BenchHttpFloor, options.Production);
        var configuration = HgsConfiguration.Load(options.DataDirectory);
        // Everything about listeners and TLS is checked before the key store or database is touched.
        var tls = options.Tls ?? configuration.Tls;
        var listeners = ListenUrl.ParseAll(options.Urls, tls, options.Production);
        var certificate = tls is { HasCertificate: true } ? ServerCertificate.Load(tls, options.Time) : null;
        var adminClientCa = tls?.AdminClientCaFile is { } caFile ? AdminAuthenticator.LoadClientCa(caFile) : null;
        var adminAuth = tls?.AdminAuthMode ?? AdminAuthMode.Token;
        var builder = WebApplication.CreateSlimBuilder();
        ServiceLogging.Configure(builder.Logging, options.LogFormat, options.MinimumLogLevel);

        // Type=notify: READY=1 once every listener is bound, STOPPING=1 on SIGTERM. Does nothing outside systemd.
        builder.Services.AddSystemd();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
            HgsListeners.Configure(k, listeners, () => k.ApplicationServices.GetRequiredService<ReloadingServerCertificate>());
        });

        bool databaseHasCheckpoints = false; // read after migration, before the checkpoint key is resolved

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(options.Time);
        services.AddSingleton<HgsMetrics>();
        options.Metrics.AddTo(services);

        // Opened by the container so that it logs through the host's loggers (a cluster's member transitions go to the
        // service log); resolved right after Build, so a key store that cannot open still stops the start.
        services.AddSingleton(provider =>
        {
            var store = HgsRuntime.OpenKeyStore(configuration, options.DataDirectory, options.Production, provider.GetRequiredService<ILoggerFactory>(), options.Time);
            // Outermost, so it measures what the service asks of the store; it keeps every capability of the store it wraps.
            return MeteredKeyStore.Wrap(options.KeyStoreDecorator is { } decorate ? decorate(store) : store, provider.GetRequiredService<HgsMetrics>());
        });
        // A factory registration: the container disposes it at shutdown. Its rows are MACed with the key store's row-MAC key.
        services.AddSingleton<IHgsDatabase>(provider => new MeteredDatabase(
            HgsRuntime.OpenDatabase(configuration, options.DataDirectory, options.Time, new KeyStoreRowAuthenticator(provider.GetRequiredService<IKeyStore>())),
            provider.GetRequiredService<HgsMetrics>()));

        // The store's re-wrap capability (or its absence) and the node's release-key-handling, from hgs.json or the
        // command line only (never the database); resolved right after Build with the key store, so a bad combination
        // stops the start in production.
        services.AddSingleton(provider => HgsRuntime.TransportKeyHandlingFor(
            provider.GetRequiredService<IKeyStore>(), configuration, options.ReleaseKeyHandling, options.Production));
        // New KPS signing keys: hgs.json's kpsSigningKeyAlgorithm (validated when the file was loaded), RSA-2048 when absent.
        services.AddSingleton(configuration.FabricKeyOptions);
        services.AddSingleton<FabricKeyManager>();
        services.AddSingleton<SettingsService>();
        services.AddSingleton<AdminCredential>();
        services.AddSingleton(provider => new AdminAuthenticator(
            adminAuth, adminClientCa, provider.GetRequiredService<AdminCredential>(), options.Time, provider.GetRequiredService<ILogger<AdminAuthenticator>>()));
        if (certificate is not null)
        {
            services.AddSingleton(provider => new ReloadingServerCertificate(
                tls!, certificate, adminClientCa is not null, options.CertificateReloadInterval, options.Time, provider.GetRequiredService<ILogger<ReloadingServerCertificate>>()));
        }

        services.AddSingleton<HostRegistry>();
        // Stateless challenges: their MAC key is derived from the key store's row-MAC key, the same on every node.
        services.AddSingleton(provider => new AttestationChallenges(
            new KeyStoreRowAuthenticator(provider.GetRequiredService<IKeyStore>()), provider.GetRequiredService<IHgsDatabase>(), options.Time));
        services.AddSingleton<AttestationCommit>();
        services.AddSingleton<AttestationService>();
        services.AddSingleton<PolicySnapshotCache>();
        services.AddSingleton<TpmAttestationService>();
        // Stateless AK activation credentials: their MAC key is derived from the row-MAC key too (design change 74).
        services.AddSingleton(provider => new ActivationCredentials(new KeyStoreRowAuthenticator(provider.GetRequiredService<IKeyStore>()), options.Time));
        services.AddSingleton<TpmEnrollmentService>();
        services.AddSingleton<TpmCrlService>();
        services.AddSingleton<PolicyService>();
        services.AddSingleton(options.AuditCheckpoints.Validated());
        services.AddSingleton(provider => AuditCheckpointService.OpenKey(
            provider.GetRequiredService<IKeyStore>(), databaseHasCheckpoints, provider.GetRequiredService<ILoggerFactory>().CreateLogger<AuditCheckpointer>()));
        services.AddSingleton<AuditCheckpointer>();
        services.AddSingleton<AuditVerifier>();
        services.AddSingleton<RowIntegrityCheck>();
        services.AddSingleton(provider => new RowIntegritySnapshots(provider.GetRequiredService<RowIntegrityCheck>(), options.Time));
        services.AddHostedService<RowIntegrityReportAtStart>();
        services.AddSingleton(new KeyCustodyGate(options.Production, options.AcceptedKeyCustody));
        services.AddSingleton<KeyCustodyCheck>();
        services.AddHostedService<KeyCustodyReportAtStart>();
        services.AddHostedService<AuditCheckpointService>();
        if (options.AuditFile is { } auditFile)
        {
            services.AddSingleton(auditFile);
            services.AddSingleton<AuditFileSink>();
            services.AddHostedService(provider => provider.GetRequiredService<AuditFileSink>());
        }
        services.AddSingleton(options.AuditWriter.Validated());
        services.AddSingleton<AuditWriter>();
        services.AddSingleton<KeyReleaseService>();
        ClientRateLimit.AddTo(services, options.RateLimit);
        services.AddProblemDetails();
        ApiDocumentation.AddTo(services, options.Metrics);
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, WireJson.Default);
            o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
        });

        var app = builder.Build();
        IKeyStore keyStore;
        TransportKeyHandling handling;
        try
        {
            keyStore = app.Services.GetRequiredService<IKeyStore>();
            handling = app.Services.GetRequiredService<TransportKeyHandling>();
            var database = app.Services.GetRequiredService<IHgsDatabase>();
            if (await KeyStoreRowAuthenticator.EnsureKeyAsync(keyStore, database, cancellationToken).ConfigureAwait(false))
            {
                LogRowMacKeyCreated(app.Logger, KeyStoreRowAuthenticator.MacKeyLabel);
            }

            await database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            await EnsureExplicitRowsAsync(database, app.Logger, cancellationToken).ConfigureAwait(false);

            databaseHasCheckpoints = await AuditCheckpointService.DatabaseHasCheckpointsAsync(database, cancellationToken).ConfigureAwait(false);
            app.Services.GetRequiredService<AuditCheckpointer>(); // a missing or wrong checkpoint key stops the start here
            // --production: a key the token says can have left it stops the start here (design change 79).
            await KeyCustodyAtStart.EnforceAsync(app.Services.GetRequiredService<KeyCustodyCheck>(), app.Services.GetRequiredService<KeyCustodyGate>(),
                database, app.Logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (keyStore.Kind == "software")
        {
            app.Logger.LogWarning(
                "DEVELOPMENT KEY STORE: private keys are in {Directory} (sealed at rest) and in this process's memory, not in an HSM. Never use this for a production fabric.",
                options.DataDirectory);
        }

        if (handling.Mode == ReleaseKeyHandling.HsmOnly && !handling.CanRewrapAtAll)
        {
            LogHsmOnlyWithoutRewrap(app.Logger, keyStore.Kind);
        }
        else
        {
            LogReleaseKeyHandling(app.Logger, handling.Describe());
        }

        app.Lifetime.ApplicationStopped.Register(keyStore.Dispose);
        app.UseMiddleware<ProblemMiddleware>();
        app.UseRouting();      // the limiter reads the endpoint's policy, so routing runs first
        app.UseRateLimiter();
        app.MapAttestationEndpoints();
        app.MapKeyProtectionEndpoints();
        app.MapAdminEndpoints();   // every /admin/v1 route, TPM ones included
        app.MapTpmEndpoints();
        app.MapHealthEndpoints();
        app.MapDashboardEndpoints();
        options.Metrics.MapTo(app);
        ApiDocumentation.MapTo(app);
        if (options.BenchHttpFloor)
        {
            app.MapBenchFloorEndpoints();
            LogBenchHttpFloor(app.Logger, BenchFloorEndpoints.Variable, BenchFloorEndpoints.Path);
        }

        return app;
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Transport keys in releases: release-key-handling {Handling}.")]
    private static partial void LogReleaseKeyHandling(ILogger logger, string handling);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning,
        Message = "release-key-handling is hsm-only, but the {Kind} key store cannot re-wrap transport keys inside the HSM: every key release is refused (TransportKeyHsmOnly). In --production this stops the start.")]
    private static partial void LogHsmOnlyWithoutRewrap(ILogger logger, string kind);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Warning, Message = "{Variable} is set: POST {Path} answers any request with the bytes it asks for (the bench's HTTP floor). Never in production.")]
    private static partial void LogBenchHttpFloor(ILogger logger, string variable, string path);

    /// <summary>
    /// Rows that must exist (design change 62): defaults written once for settings and policies a fabric never had rows
    /// for, and rows deleted since reported (reading them fails closed).
    /// </summary>
    private static async Task EnsureExplicitRowsAsync(IHgsDatabase database, ILogger logger, CancellationToken cancellationToken)
    {
        var settings = await database.InTransactionAsync(s => ExplicitSettings.EnsureAsync(s, "upgrade"), cancellationToken).ConfigureAwait(false);
        var policies = await database.InTransactionAsync(s => ExplicitPolicyStates.EnsureAsync(s, "upgrade"), cancellationToken).ConfigureAwait(false);
        foreach (var (kind, result, @event, remedy) in new[]
        {
            ("Settings", settings, AuditEvents.SettingsMadeExplicit, "SettingsIntegrity: attestation and key release refuse until an admin sets them again (hgs set-mode, hgs deny-before, hgs set-validity)"),
            ("Policy states", policies, AuditEvents.PolicyStatesMadeExplicit, "PolicyIntegrity: TPM attestation refuses until an admin sets their states again (hgs policy enable/disable)"),
        })
        {
            if (result.Written.Count > 0)
            {
                LogRowsMadeExplicit(logger, kind, string.Join(", ", result.Written), @event);
            }

            if (result.Deleted.Count > 0)
            {
                LogExplicitRowsDeleted(logger, kind, string.Join(", ", result.Deleted), @event, remedy);
            }
        }
    }

    [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "{Kind} {Names} had no row (a fabric from before, or new in this release): written once with their defaults, audited as {Event}. From now on a missing row fails closed.")]
    private static partial void LogRowsMadeExplicit(ILogger logger, string kind, string names, string @event);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Critical, Message = "{Kind} rows {Names} are missing although the audit trail ({Event}) shows they were written: they were deleted outside OpenHGS. {Remedy}.")]
    private static partial void LogExplicitRowsDeleted(ILogger logger, string kind, string names, string @event, string remedy);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Warning, Message = "Created the row-MAC key {Label} in the key store: rows that exist now are trusted once and MACed by schema migration 3 (audited as admin.server.seal-rows). Clone the key to every other node's HSM.")]
    private static partial void LogRowMacKeyCreated(ILogger logger, string label);
}
