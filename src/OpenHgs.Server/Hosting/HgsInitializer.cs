using OpenHgs.Protocol.HealthCertificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Tls;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Policies;

namespace OpenHgs.Server.Hosting;

/// <summary>What <c>hgs server init</c> was asked to set up; <paramref name="Tls"/> is stored in hgs.json for <c>server run</c>.</summary>
/// <param name="ReleaseKeyHandling">Written to hgs.json; null: the default for the store (<see cref="HgsRuntime.DefaultReleaseKeyHandling"/>).</param>
/// <param name="KpsSigningKeyAlgorithm">The KPS signing key type, written to hgs.json (<c>kpsSigningKeyAlgorithm</c>); null: EC P-256 (<see cref="KpsSigningKeyAlgorithms.Default"/>).</param>
public sealed record InitRequest(
    string DataDirectory, string KeyStoreUri, string Database, string FabricName, bool Production, TlsSettings? Tls = null, ReleaseKeyHandling? ReleaseKeyHandling = null,
    KeyAlgorithm? KpsSigningKeyAlgorithm = null);

/// <summary>
/// What init produced: the keys, and where the admin credential was written (the credential itself is only in
/// that file). A node joining a fabric whose shared database is already initialised creates no keys and no
/// credential (<see cref="Joined"/>; <see cref="AdminTokenPath"/> is null).
/// </summary>
public sealed record InitResult(string DataDirectory, string KeyStoreKind, string? AdminTokenPath, IReadOnlyList<string> KeyIds, bool Joined = false)
{
    /// <summary>What hgs.json now says about transport keys in releases (<c>hsm-only</c> or <c>allow-memory</c>).</summary>
    public string ReleaseKeyHandling { get; init; } = ReleaseKeyHandlingNames.HsmOnly;
}

/// <summary>
/// <c>hgs server init</c> (HGS Initialize-HgsServer): writes the configuration, creates the database, generates
/// one key per role inside the key store, and writes the admin credential to <c>DATA/admin.token</c> (0600).
/// Refuses an already initialised folder, and removes what it created when any step fails.
/// </summary>
public static class HgsInitializer
{
    public const string AdminTokenFile = "admin.token";

    /// <param name="request">What to set up.</param>
    /// <param name="time">Clock for the audit record and the key store's retries.</param>
    /// <param name="cancellationToken">Cancels the database work.</param>
    /// <param name="loggers">Where the key store logs while init uses it (e.g. a cluster member that is down); none by default.</param>
    public static async Task<InitResult> InitializeAsync(InitRequest request, TimeProvider time, CancellationToken cancellationToken, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        string data = Path.GetFullPath(request.DataDirectory);
        var tls = request.Tls is null || request.Tls.IsEmpty ? null : request.Tls.WithAbsolutePaths(Environment.CurrentDirectory);
        if (tls is not null)
        {
            // Stored only if it would serve: a bad file is reported now, not at the first 'server run'.
            tls.Validate();
            ServerCertificate.Load(tls, time).Leaf.Dispose();
            if (tls.AdminClientCaFile is { } ca)
            {
                AdminAuthenticator.LoadClientCa(ca);
            }
        }

        if (File.Exists(HgsConfiguration.PathIn(data)))
        {
            throw new HgsConfigurationException("data", $"'{data}' is already initialised; use another folder or remove it first.");
        }

        bool createdFolder = !Directory.Exists(data);
        OwnerOnlyFile.CreateDirectory(data);
        if (!createdFolder && !OperatingSystem.IsWindows())
        {
            // An existing folder becomes the data folder: only its owner may enter it (a failure stops init, nothing written).
            File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var signingAlgorithm = request.KpsSigningKeyAlgorithm ?? KpsSigningKeyAlgorithms.Default;
        var configuration = new HgsConfiguration(1, request.KeyStoreUri, request.Database, tls)
        {
            // Throws for a type that is no KPS signing key type, before anything is created.
            KpsSigningKeyAlgorithm = KpsSigningKeyAlgorithms.ToName(signingAlgorithm),
        };
        IKeyStore? store = null;
        var createdKeys = new List<string>();
        bool createdCheckpointKey = false;
        try
        {
            store = HgsRuntime.OpenKeyStore(configuration, data, request.Production, loggers ?? NullLoggerFactory.Instance, time);
            if (!store.Capabilities.Algorithms.Contains(signingAlgorithm))
            {
                throw new HgsConfigurationException("kpsSigningKeyAlgorithm",
                    $"The {store.Kind} key store cannot generate {configuration.KpsSigningKeyAlgorithm} keys; choose another KPS signing key type ({string.Join(", ", KpsSigningKeyAlgorithms.Names)}).");
            }

            var handling = HgsRuntime.TransportKeyHandlingFor(store, configuration, request.ReleaseKeyHandling, request.Production);
            configuration = configuration with { ReleaseKeyHandling = handling.Mode.ToName() };
            using var database = HgsRuntime.OpenDatabase(configuration, data, time, new KeyStoreRowAuthenticator(store));
            await KeyStoreRowAuthenticator.EnsureKeyAsync(store, database, cancellationToken).ConfigureAwait(false);
            await database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            if (await database.ReadAsync(s => s.Settings.GetAsync(SettingNames.FabricName), cancellationToken).ConfigureAwait(false) is not null)
            {
                // Another node initialised this shared database: join it, and never replace its keys or credential.
                var existing = (await database.ReadSnapshotAsync(s => s.FabricKeys.ListAsync(), cancellationToken).ConfigureAwait(false)).Rows;
                var missing = existing.Where(k => store.FindKey(k.Label) is null).Select(k => k.Id).ToList();
                if (missing.Count > 0)
                {
                    throw new HgsConfigurationException("keyStore", $"The shared database names fabric keys this node's key store does not hold: {string.Join(", ", missing)}. Give every node the same HSM keys.");
                }

                using (AuditCheckpointKey.Find(store) ?? throw new HgsConfigurationException("keyStore", $"This node's key store does not hold the fabric's audit checkpoint key ('{AuditCheckpointKey.Label}'). Give every node the same HSM keys."))
                {
                }

                configuration.Save(data);
                return new InitResult(data, store.Kind, null, existing.Select(k => k.Id).ToList(), Joined: true) { ReleaseKeyHandling = configuration.ReleaseKeyHandling };
            }

            await database.InTransactionAsync(async s =>
            {
                await s.Settings.SetAsync(SettingNames.FabricName, request.FabricName).ConfigureAwait(false);
                await s.Settings.SetAsync(SettingNames.Mode, AttestationModeNames.HostKey).ConfigureAwait(false);
                var initialized = await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.ServiceInitialized, AuditOutcomes.Success, request.FabricName, null,
                    ("keyStore", store.Kind), ("database", database.Provider))).ConfigureAwait(false);
                await ExplicitSettings.EnsureAsync(s, "init").ConfigureAwait(false);
                await ExplicitPolicyStates.EnsureAsync(s, "init").ConfigureAwait(false);
                return initialized;
            }, cancellationToken).ConfigureAwait(false);

            var keys = new FabricKeyManager(store, database, time, NullLogger<FabricKeyManager>.Instance, configuration.FabricKeyOptions);
            await keys.InitializeAsync(cancellationToken).ConfigureAwait(false);
            createdKeys.AddRange((await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false)).Keys.Select(k => k.Record.Label));
            // Signs audit checkpoints (AuditCheckpointer). A token that already holds one (a fabric set up on it before) keeps it.
            if (AuditCheckpointKey.Find(store) is { } existingCheckpointKey)
            {
                existingCheckpointKey.Dispose();
            }
            else
            {
                AuditCheckpointKey.Create(store).Dispose();
                createdCheckpointKey = true;
            }

            // The token file first, then its hash: an interruption never leaves a hash whose token nobody has.
            string tokenPath = Path.Combine(data, AdminTokenFile);
            await new AdminCredential(database).ReplaceAsync(
                token => OwnerOnlyFile.CreateNew(tokenPath, System.Text.Encoding.UTF8.GetBytes(token + "\n")), audit: null, cancellationToken).ConfigureAwait(false);
            configuration.Save(data);
            return new InitResult(data, store.Kind, tokenPath, createdKeys.Select(l => l["openhgs-".Length..]).ToList()) { ReleaseKeyHandling = configuration.ReleaseKeyHandling };
        }
        catch
        {
            foreach (string label in createdKeys)
            {
                store?.DeleteKey(label);
            }

            if (createdCheckpointKey)
            {
                store?.DeleteKey(AuditCheckpointKey.Label);
            }

            if (createdFolder)
            {
                Directory.Delete(data, recursive: true);
            }

            throw;
        }
        finally
        {
            store?.Dispose();
        }
    }
}
