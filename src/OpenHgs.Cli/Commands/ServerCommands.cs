using System.CommandLine;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Endpoints;
using OpenHgs.Server.Hosting;
using OpenHgs.Service.KeyProtection;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Audit;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs server init|run|rotate-admin-token|set-mode|deny-before|settings|set-validity|backup|restore</c>.</summary>
internal static class ServerCommands
{
    public static Command Build()
    {
        var server = new Command("server", "Initialise and run the OpenHGS service.");
        server.Subcommands.Add(Init());
        server.Subcommands.Add(Run());
        server.Subcommands.Add(RotateAdminToken());
        server.Subcommands.Add(AdminCommands.SetMode());
        server.Subcommands.Add(AdminCommands.DenyBefore());
        server.Subcommands.Add(BackupCommands.Backup());
        server.Subcommands.Add(BackupCommands.Restore());
        server.Subcommands.Add(AdminCommands.Settings());
        server.Subcommands.Add(AdminCommands.SetValidity());
        return server;
    }

    private static Command Init()
    {
        var data = CliOptions.RequiredPath("--data", "Data folder to create (configuration, database, admin credential).");
        var software = new Option<bool>("--software") { Description = "Use the embedded software key store (development only; refused with --production)." };
        var module = CliOptions.Path("--hsm-module", "PKCS#11 module path, e.g. /usr/lib/softhsm/libsofthsm2.so.");
        var token = CliOptions.Path("--hsm-token", "PKCS#11 token label.");
        var pinEnv = CliOptions.Path("--hsm-pin-env", "Environment variable holding the token user PIN (the PIN is never stored).");
        var keyStoreUri = new Option<string>("--key-store")
        {
            Description = "A full key store URI instead of --software/--hsm-*, e.g. pkcs11:token=T?module-path=M&pin-source=env:V, or an HSM cluster "
                + "cluster:?member=<percent-encoded URI>&member=<...> (docs/hsm-cluster.md). Never holds a PIN.",
        };
        var name = new Option<string>("--name") { Description = "Fabric (guardian) name.", DefaultValueFactory = _ => "OpenHGS fabric" };
        var production = new Option<bool>("--production") { Description = "Refuse development settings (software key store)." };
        var database = new Option<string>("--database")
        {
            Description = "Database: sqlite:FILE (default sqlite:hgs.db in the data folder), postgresql://user@host:port/db or Host=…;Database=…;Username=… (password from PGPASSWORD).",
        };
        var handling = ReleaseKeyHandlingOption(
            "Where key releases may handle a VM's transport key, written to DATA/hgs.json: hsm-only (re-wrapped inside the HSM, else refused) "
            + "or allow-memory (in memory where the key store cannot re-wrap; development). Default: hsm-only with --production or a key store that can re-wrap, else allow-memory.");
        var signingKey = new Option<string>("--kps-signing-key")
        {
            Description = "Type of the KPS signing key, written to DATA/hgs.json (kpsSigningKeyAlgorithm): ec-p256 (default; rolled key protectors are ES256, "
                + "one RSA private operation per release) or rsa-2048|rsa-3072|rsa-4096 (RS256, for tenant tools that predate ES256).",
            HelpName = string.Join("|", KpsSigningKeyAlgorithms.Names),
        };
        var json = CliOptions.Json();
        var tls = new ServerTlsOptions();
        var command = new Command("init", "Create the data folder, database and fabric keys, and write DATA/admin.token.")
        {
            data, software, module, token, pinEnv, keyStoreUri, name, production, database, handling, signingKey, json,
        };
        tls.AddTo(command);
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string keyStore = KeyStoreUriFrom(parse.GetValue(software), parse.GetValue(module), parse.GetValue(token), parse.GetValue(pinEnv), parse.GetValue(keyStoreUri));
            var result = await HgsInitializer.InitializeAsync(
                new InitRequest(Path.GetFullPath(parse.GetValue(data)!), keyStore, HgsRuntime.DatabaseSpecFrom(parse.GetValue(database)), parse.GetValue(name)!, parse.GetValue(production), tls.From(parse),
                    ParseReleaseKeyHandling(parse.GetValue(handling)), ParseKpsSigningKey(parse.GetValue(signingKey))),
                TimeProvider.System, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new System.Text.Json.Nodes.JsonObject
                {
                    ["dataDirectory"] = result.DataDirectory,
                    ["keyStore"] = result.KeyStoreKind,
                    ["adminTokenFile"] = result.AdminTokenPath,
                    ["joined"] = result.Joined,
                    ["releaseKeyHandling"] = result.ReleaseKeyHandling,
                    ["keys"] = new System.Text.Json.Nodes.JsonArray([.. result.KeyIds.Select(k => (System.Text.Json.Nodes.JsonNode?)k)]),
                });
            }
            else
            {
                CliOutput.Line($"Initialised {result.DataDirectory} with the {result.KeyStoreKind} key store; keys: {string.Join(", ", result.KeyIds)}; release key handling: {result.ReleaseKeyHandling}.");
                CliOutput.Line(result.Joined
                    ? "Joined the fabric already initialised in the shared database; use its existing admin credential."
                    : $"Admin credential written to {result.AdminTokenPath} (mode 0600).");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command RotateAdminToken()
    {
        var data = CliOptions.RequiredPath("--data", "Initialised data folder (its key store and database are used; the server may be running).");
        var json = CliOptions.Json();
        var command = new Command("rotate-admin-token",
            "Replace the admin credential: writes a new DATA/admin.token (0600) first, then its hash; running servers refuse the old token at once.")
        {
            data, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string path = await AdminCredentialRotation.RotateAsync(Path.GetFullPath(parse.GetValue(data)!), TimeProvider.System, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new System.Text.Json.Nodes.JsonObject { ["adminTokenFile"] = path });
            }
            else
            {
                CliOutput.Line($"New admin credential written to {path} (mode 0600); the previous one is refused from now on by every node on this database.");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Option<string> ReleaseKeyHandlingOption(string description) =>
        new("--release-key-handling") { Description = description, HelpName = $"{ReleaseKeyHandlingNames.HsmOnly}|{ReleaseKeyHandlingNames.AllowMemory}" };

    private static ReleaseKeyHandling? ParseReleaseKeyHandling(string? text) =>
        text is null ? null
            : ReleaseKeyHandlingNames.TryParse(text)
              ?? throw new CliException($"--release-key-handling: '{text}' is not {ReleaseKeyHandlingNames.HsmOnly} or {ReleaseKeyHandlingNames.AllowMemory}.");

    private static KeyAlgorithm? ParseKpsSigningKey(string? text) =>
        text is null ? null
            : KpsSigningKeyAlgorithms.TryParse(text)
              ?? throw new CliException($"--kps-signing-key: '{text}' is not one of {string.Join(", ", KpsSigningKeyAlgorithms.Names)}.");

    private static string KeyStoreUriFrom(bool software, string? module, string? token, string? pinEnv, string? keyStoreUri)
    {
        bool hsm = module is not null || token is not null || pinEnv is not null;
        if ((software ? 1 : 0) + (hsm ? 1 : 0) + (keyStoreUri is null ? 0 : 1) != 1)
        {
            throw new CliException("choose exactly one key store: --software, --hsm-module PATH --hsm-token LABEL --hsm-pin-env VAR, or --key-store URI.");
        }

        if (keyStoreUri is not null)
        {
            // Parsed here for an early, field-named error; the provider validates the rest when init opens it.
            return KeyStoreUri.Parse(keyStoreUri).Text;
        }

        if (software)
        {
            return SoftwareKeyStoreProvider.DefaultUri;
        }

        string missing = module is null ? "--hsm-module" : token is null ? "--hsm-token" : pinEnv is null ? "--hsm-pin-env" : string.Empty;
        if (missing.Length > 0)
        {
            throw new CliException($"{missing} is required with an HSM key store.");
        }

        return KeyStoreUri.Create("pkcs11", [new("token", token!)], [new("module-path", module!), new("pin-source", "env:" + pinEnv)]).Text;
    }

    private static Command Run()
    {
        var data = CliOptions.RequiredPath("--data", "Initialised data folder.");
        var urls = new Option<string>("--urls") { Description = "Listen URL(s), comma-separated; https:// needs a server certificate.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var production = new Option<bool>("--production")
        {
            Description = "Production mode: refuse the software key store, plain http:// beyond loopback, and hsm-only release key handling without an HSM that re-wraps.",
        };
        var acceptCustody = new Option<string[]>("--accept-key-custody")
        {
            Description = "With --production, use the key LABEL despite its critical custody finding CODE (e.g. Extractable): explicit per key and finding, "
                + "logged and audited at every start. Repeat for each. Without it such a finding stops the start.",
            HelpName = "LABEL:CODE",
        };
        var reload = new Option<int>("--tls-reload-interval")
        {
            Description = "Seconds between checks of the certificate files for a rotation (no restart needed).",
            DefaultValueFactory = _ => 10,
        };
        var handling = ReleaseKeyHandlingOption("Overrides DATA/hgs.json's release key handling for this run: hsm-only or allow-memory.");
        var tls = new ServerTlsOptions();
        var checkpointRecords = new Option<int>("--audit-checkpoint-records")
        {
            Description = "Sign the audit head once this many records are unsigned.",
            DefaultValueFactory = _ => new AuditCheckpointOptions().EveryRecords,
        };
        var checkpointSeconds = new Option<double>("--audit-checkpoint-seconds")
        {
            Description = "Sign the audit head at least this often while records arrive (and always at start and shutdown).",
            DefaultValueFactory = _ => new AuditCheckpointOptions().Interval.TotalSeconds,
        };
        var rateLimit = new Option<string>("--rate-limit")
        {
            Description = "Requests per second per client address on /attestation/v1 and /keyprotection/v1 (bursts of twice that; admin routes are not limited), or off.",
            HelpName = "N/s|off",
            DefaultValueFactory = _ => $"{ClientRateLimit.Default.PerSecond}/s",
        };
        var metrics = new Option<string>("--metrics")
        {
            Description = "Prometheus metrics: off, admin (/metrics behind the admin credential) or http://127.0.0.1:PORT (a separate loopback listener).",
            HelpName = "off|admin|URL",
            DefaultValueFactory = _ => "off",
        };
        var logFormat = new Option<string>("--log-format")
        {
            Description = "Console log format: text (one line per event) or json (one JSON object per line).",
            HelpName = "text|json",
            DefaultValueFactory = _ => "text",
        };
        var logLevel = new Option<string>("--log-level")
        {
            Description = "Least severe level logged: trace, debug, information, warning, error or critical.",
            DefaultValueFactory = _ => "information",
        };
        var auditFile = new Option<string>("--audit-file")
        {
            Description = "Also copy every committed audit record to this file, one JSON line each (for log shippers; created owner-only; rotate by renaming).",
            HelpName = "PATH",
        };
        var command = new Command("run", "Run the service in the foreground until interrupted (TLS options replace those stored by init).")
        {
            data, urls, production, acceptCustody, reload, handling, checkpointRecords, checkpointSeconds, rateLimit, metrics, logFormat, logLevel, auditFile,
        };
        tls.AddTo(command);
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            int seconds = parse.GetValue(reload);
            if (seconds is < 1 or > 86400)
            {
                throw new CliException($"--tls-reload-interval {seconds} is not between 1 and 86400 seconds.");
            }

            AuditCheckpointOptions checkpoints;
            try
            {
                checkpoints = new AuditCheckpointOptions
                {
                    EveryRecords = parse.GetValue(checkpointRecords),
                    Interval = TimeSpan.FromSeconds(parse.GetValue(checkpointSeconds)),
                }.Validated();
            }
            catch (Exception ex) when (ex is ArgumentOutOfRangeException or OverflowException or ArgumentException)
            {
                throw new CliException("--audit-checkpoint-records must be at least 1 and --audit-checkpoint-seconds between 0.1 and 86400.");
            }

            ClientRateLimit? limit;
            try
            {
                limit = ClientRateLimit.Parse(parse.GetValue(rateLimit)!);
            }
            catch (FormatException ex)
            {
                throw new CliException("--rate-limit: " + ex.Message);
            }

            LogFormat format;
            Microsoft.Extensions.Logging.LogLevel level;
            try
            {
                format = ServiceLogging.ParseFormat(parse.GetValue(logFormat)!);
                level = ServiceLogging.ParseLevel(parse.GetValue(logLevel)!);
            }
            catch (FormatException ex)
            {
                throw new CliException(ex.Message);
            }

            List<KeyCustodyAcceptance> accepted;
            try
            {
                accepted = [.. (parse.GetValue(acceptCustody) ?? []).Select(KeyCustodyAcceptance.Parse).Distinct()];
            }
            catch (FormatException ex)
            {
                throw new CliException("--accept-key-custody: " + ex.Message);
            }

            var app = await HgsServer.BuildAsync(new HgsServerOptions
            {
                AcceptedKeyCustody = accepted,
                Metrics = MetricsExposure.Parse(parse.GetValue(metrics)!),
                LogFormat = format,
                MinimumLogLevel = level,
                DataDirectory = Path.GetFullPath(parse.GetValue(data)!), // relative --data: the database path is built from it
                Urls = parse.GetValue(urls)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Production = parse.GetValue(production),
                Tls = tls.From(parse),
                CertificateReloadInterval = TimeSpan.FromSeconds(seconds),
                ReleaseKeyHandling = ParseReleaseKeyHandling(parse.GetValue(handling)),
                AuditCheckpoints = checkpoints,
                RateLimit = limit,
                AuditFile = parse.GetValue(auditFile) is { } file ? AuditFileOptions.Validate(file) : null,
                // Not a command-line option: only ./bench/run.sh sets it, in the environment of the service it starts.
                BenchHttpFloor = BenchFloorEndpoints.IsOn(Environment.GetEnvironmentVariable(BenchFloorEndpoints.Variable)),
            }, ct).ConfigureAwait(false);
            await app.RunAsync().ConfigureAwait(false);
            return ExitCodes.Success;
        }));
        return command;
    }
}
