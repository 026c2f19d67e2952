using System.CommandLine;
using System.Globalization;
using OpenHgs.Client;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary>Admin commands over <c>/admin/v1</c>: <c>keys</c>, <c>hosts</c>, <c>guardian export</c>, settings (<c>audit</c> is <see cref="AuditCommands"/>).</summary>
internal static class AdminCommands
{
    public static Command Keys()
    {
        var keys = new Command("keys", "Fabric keys: KPS encryption, KPS signing, attestation signer.");
        keys.Subcommands.Add(Admin("list", "List fabric keys.", [], async (client, parse, json, ct) =>
        {
            var list = await client.ListKeysAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListFabricKeyInfo);
                return;
            }

            foreach (var k in list)
            {
                CliOutput.Line($"{k.Id,-14} {k.Role,-19} {k.Algorithm,-8} {(k.IsPrimary ? "primary" : "-"),-8} {(k.Enabled ? "enabled" : "disabled"),-9} {k.Thumbprint[..16]}");
            }
        }));

        var role = new Option<string>("--role") { Description = "encryption | signing | attestation-signer", Required = true };
        keys.Subcommands.Add(Admin("add", "Generate a new key of a role inside the key store.", [role], async (client, parse, json, ct) =>
        {
            var key = await client.AddKeyAsync(parse.GetValue(role)!, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(key, WireJson.Default.FabricKeyInfo);
            }
            else
            {
                CliOutput.Line($"Added {key.Role} key {key.Id}{(key.IsPrimary ? " (primary)" : string.Empty)}.");
            }
        }));

        keys.Subcommands.Add(Admin("custody", "Show how the key store holds every key of the fabric (token attributes, copy by copy); non-zero exit naming a key that may have left it.", [],
            async (client, parse, json, ct) =>
            {
                var report = await client.GetKeyCustodyAsync(ct).ConfigureAwait(false);
                if (json)
                {
                    CliOutput.Json(report, WireJson.Default.KeyCustodyReport);
                }
                else
                {
                    KeyCustodyText.Print(report);
                }

                if (!report.Passed)
                {
                    var failed = report.Keys.First(k => !k.Passed);
                    var first = failed.Findings.First(f => f.Severity == "failure");
                    throw CliErrors.AfterResult(new CliException(
                        $"{report.Keys.Count(k => !k.Passed)} key(s) fail their custody check, first {failed.Label} ({first.Code} on {first.Holder})", ExitCodes.Refused), json);
                }
            }));

        keys.Subcommands.Add(IdCommand("set-primary", "Make a key the primary of its role.", (c, id, ct) => c.SetPrimaryAsync(id, ct), "is now primary"));
        keys.Subcommands.Add(IdCommand("disable", "Disable a key: key protectors wrapped only to it are no longer released.", (c, id, ct) => c.SetEnabledAsync(id, false, ct), "disabled"));
        keys.Subcommands.Add(IdCommand("enable", "Enable a key again.", (c, id, ct) => c.SetEnabledAsync(id, true, ct), "enabled"));
        keys.Subcommands.Add(IdCommand("remove", "Remove a key from the configuration (the HSM object is kept).", (c, id, ct) => c.RemoveKeyAsync(id, ct), "removed"));
        return keys;
    }

    public static Command Hosts()
    {
        var hosts = new Command("hosts", "Registered guarded hosts.");
        var name = new Option<string>("--name") { Description = "Host name.", Required = true };
        var publicKey = CliOptions.RequiredPath("--public-key", "The host's signing public key (PEM file from 'hgs client keygen').");
        hosts.Subcommands.Add(Admin("add-key", "Register a host's signing key (host-key attestation).", [name, publicKey], async (client, parse, json, ct) =>
        {
            string pem = System.Text.Encoding.UTF8.GetString(CliOutput.ReadFile(parse.GetValue(publicKey)!, "public key", 16 * 1024));
            var host = await client.AddHostKeyAsync(parse.GetValue(name)!, pem, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(host, WireJson.Default.HostInfo);
            }
            else
            {
                CliOutput.Line($"Registered host {host.Name} (key {host.KeyThumbprint[..16]}…).");
            }
        }));

        hosts.Subcommands.Add(Admin("list", "List registered hosts.", [], async (client, parse, json, ct) =>
        {
            // Page by page (design change 87); the output is the whole list, as before. Rows that fail their check
            // cannot attest: they are named on stderr, so stdout stays the list of usable hosts.
            var list = new List<HostInfo>();
            await foreach (var page in client.ListHostPagesAsync(ct).ConfigureAwait(false))
            {
                list.AddRange(page.Hosts);
                foreach (var rejected in page.Rejected)
                {
                    CliOutput.Warning($"host {rejected.Key} is not listed ({rejected.Problem}): {rejected.Message} See 'hgs audit rows'.");
                }
            }

            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListHostInfo);
                return;
            }

            foreach (var h in list)
            {
                CliOutput.Line($"{h.Name,-30} {h.Mode,-9} {h.KeyThumbprint[..16]} {h.AddedAt:O}{(h.EkCertificate is { } ek ? " ek-certificate:" + ek : string.Empty)}");
            }
        }));

        hosts.Subcommands.Add(TpmCommands.AddTpmHost());
        hosts.Subcommands.Add(TpmCommands.SetEkCertificate());

        var hostName = new Argument<string>("NAME") { Description = "Host name." };
        hosts.Subcommands.Add(Admin("remove", "Unregister a host.", [hostName], async (client, parse, json, ct) =>
        {
            await client.RemoveHostAsync(parse.GetValue(hostName)!, ct).ConfigureAwait(false);
            CliOutput.Line($"Removed host {parse.GetValue(hostName)}.");
        }));
        return hosts;
    }

    public static Command GuardianExport()
    {
        var output = CliOptions.RequiredPath("--out", "File to write the fabric guardian metadata to.");
        return Admin("export", "Export the fabric's guardian metadata (public) for VM owners.", [output], async (client, parse, json, ct) =>
        {
            string metadata = await client.ExportGuardianAsync(ct).ConfigureAwait(false);
            CliOutput.WritePublicFile(parse.GetValue(output)!, System.Text.Encoding.UTF8.GetBytes(metadata));
            CliOutput.Line($"Fabric guardian written to {parse.GetValue(output)}.");
        });
    }

    public static Command SetMode()
    {
        var mode = new Argument<string>("MODE") { Description = "host-key | tpm" };
        return Admin("set-mode", "Set the attestation mode the service accepts.", [mode], async (client, parse, json, ct) =>
        {
            await client.SetModeAsync(parse.GetValue(mode)!, ct).ConfigureAwait(false);
            await ReportSettingsAsync(client, json, $"Attestation mode set to {parse.GetValue(mode)}.", ct).ConfigureAwait(false);
        });
    }

    /// <summary><c>hgs server settings</c>: what the service enforces now (all nodes share it).</summary>
    public static Command Settings() =>
        Admin("settings", "Show the service's settings: attestation mode, deny-before date, certificate validity, policy version.", [], async (client, parse, json, ct) =>
            await ReportSettingsAsync(client, json, null, ct).ConfigureAwait(false));

    public static Command SetValidity()
    {
        var duration = new Argument<string>("DURATION") { Description = "How long new health certificates stay valid: minutes, or a number with m, h or d (5m to 7d), e.g. 8h." };
        return Admin("set-validity", "Set how long health certificates issued from now on stay valid.", [duration], async (client, parse, json, ct) =>
        {
            int minutes = ParseMinutes(parse.GetValue(duration)!);
            await client.SetValidityAsync(minutes, ct).ConfigureAwait(false);
            await ReportSettingsAsync(client, json, $"Health certificates issued from now on are valid for {minutes} minutes.", ct).ConfigureAwait(false);
        });
    }

    internal static int ParseMinutes(string text)
    {
        (string number, int factor) = text switch
        {
            _ when text.EndsWith('d') => (text[..^1], 24 * 60),
            _ when text.EndsWith('h') => (text[..^1], 60),
            _ when text.EndsWith('m') => (text[..^1], 1),
            _ => (text, 1),
        };
        return int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 && value <= 7 * 24 * 60 / factor
            ? value * factor
            : throw new CliException($"'{text}' is not a duration: minutes, or a number with m, h or d (e.g. 90m, 8h, 2d).");
    }

    /// <summary>After a settings change: the settings as JSON (<c>--json</c>), else the one-line confirmation.</summary>
    private static async Task ReportSettingsAsync(AdminClient client, bool json, string? done, CancellationToken ct)
    {
        if (json || done is null)
        {
            var settings = await client.GetSettingsAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(settings, WireJson.Default.ServiceSettings);
                return;
            }

            CliOutput.Line($"mode:          {settings.Mode}");
            CliOutput.Line($"deny-before:   {(settings.DenyBefore is { } d ? d.ToString("O", CultureInfo.InvariantCulture) : "none")}");
            CliOutput.Line($"validity:      {settings.HealthCertificateValidityMinutes} minutes");
            CliOutput.Line($"policyVersion: {settings.PolicyVersion}");
            return;
        }

        CliOutput.Line(done);
    }

    public static Command DenyBefore()
    {
        var at = new Argument<string>("WHEN") { Description = "ISO 8601 instant, 'now', or 'none' to clear." };
        return Admin("deny-before", "Refuse key release for health certificates issued before this instant.", [at], async (client, parse, json, ct) =>
        {
            string text = parse.GetValue(at)!;
            if (text == "now")
            {
                // The service's clock, which stamps the certificates: this machine's may lag it.
                await client.SetDenyBeforeNowAsync(ct).ConfigureAwait(false);
                var applied = (await client.GetSettingsAsync(ct).ConfigureAwait(false)).DenyBefore;
                await ReportSettingsAsync(client, json, $"Health certificates issued before {applied:O} (the service's clock) are refused.", ct).ConfigureAwait(false);
                return;
            }

            DateTimeOffset? when = text switch
            {
                "none" => null,
                _ => DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                    ? parsed
                    : throw new CliException($"'{text}' is not an ISO 8601 instant, 'now' or 'none'."),
            };
            await client.SetDenyBeforeAsync(when, ct).ConfigureAwait(false);
            await ReportSettingsAsync(client, json, when is null ? "Deny-before date cleared." : $"Health certificates issued before {when:O} are refused.", ct).ConfigureAwait(false);
        });
    }

    private static Command IdCommand(string name, string description, Func<AdminClient, string, CancellationToken, Task> action, string done)
    {
        var id = new Argument<string>("ID") { Description = "Key id (see 'hgs keys list')." };
        return Admin(name, description, [id], async (client, parse, json, ct) =>
        {
            await action(client, parse.GetValue(id)!, ct).ConfigureAwait(false);
            CliOutput.Line($"Key {parse.GetValue(id)} {done}.");
        });
    }

    private static Command Admin(string name, string description, Symbol[] symbols, Func<AdminClient, ParseResult, bool, CancellationToken, Task> body) =>
        Admin(name, description, symbols, (urls, token, tls) => new AdminClient(urls, token, tls), body);

    /// <summary>
    /// An admin command: adds --url, --token, --ca-cert, --client-cert, --client-key and --json and resolves them from the
    /// environment; <paramref name="connect"/> makes the client. The token may be left out only with a client certificate.
    /// </summary>
    internal static Command Admin<TClient>(string name, string description, Symbol[] symbols, Func<string[], string?, ClientTlsOptions, TClient> connect, Func<TClient, ParseResult, bool, CancellationToken, Task> body)
        where TClient : IDisposable
    {
        var url = CliOptions.Url();
        var credentials = new AdminCredentialOptions();
        var json = CliOptions.Json();
        var command = new Command(name, description) { url };
        foreach (var option in credentials.Options)
        {
            command.Options.Add(option);
        }

        command.Options.Add(json);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Option option:
                    command.Options.Add(option);
                    break;
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
            }
        }

        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string urls = parse.GetValue(url) ?? Environment.GetEnvironmentVariable("HGS_URL")
                ?? throw new CliException("no service URL: pass --url or set HGS_URL.");
            string[] serviceUrls = CliOptions.ServiceUrls(urls, "--url");
            var (secret, tls) = credentials.Resolve(parse);
            using var client = connect(serviceUrls, secret, tls);
            await body(client, parse, parse.GetValue(json), ct).ConfigureAwait(false);
            return ExitCodes.Success;
        }));
        return command;
    }
}
