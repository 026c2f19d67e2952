using System.CommandLine;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// TPM enrolment commands: <c>client identify</c> and <c>client baseline</c> on the host, <c>hosts add-tpm</c> and
/// <c>tpm-roots add|list|remove|add-crl|list-crls|remove-crl</c> for the admin.
/// </summary>
internal static class TpmCommands
{
    public static Option<string> TpmOption(bool required) => new("--tpm")
    {
        Description = "The TPM: /dev/tpmrm0 or swtpm:host=127.0.0.1,port=N.",
        Required = required,
    };

    public static Command Identify()
    {
        var state = CliOptions.State();
        var tpm = TpmOption(required: true);
        var output = CliOptions.RequiredPath("--out", "Where to write the identity (JSON) for the admin's 'hgs hosts add-tpm'.");
        var command = new Command("identify", "Read this TPM's EK and EK certificate, for registration by the admin.") { state, tpm, output };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            var identity = new TpmHostAgent(parse.GetValue(tpm)!, CliOptions.StateFolder(parse.GetValue(state))).Identify();
            CliOutput.WritePublicFile(parse.GetValue(output)!, JsonSerializer.SerializeToUtf8Bytes(identity, WireJson.Default.TpmIdentity));
            CliOutput.Line($"TPM identity written to {parse.GetValue(output)} ({(identity.EkCertificate is null ? "no EK certificate" : "with EK certificate")}).");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    public static Command Baseline()
    {
        var state = CliOptions.State("The reference host's state folder, configured with --tpm (default: $HGS_CLIENT_STATE).");
        var output = CliOptions.RequiredPath("--out", "Where to write the baseline (JSON) for 'hgs policy add-baseline'.");
        var hardwareClass = new Option<string>("--hardware-class") { Description = "Hardware class name (default: this machine's host name)." };
        var command = new Command("baseline", "Capture this reference host's measurements (event log, PCRs, Secure Boot state) as a baseline.") { state, output, hardwareClass };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            string directory = CliOptions.StateFolder(parse.GetValue(state));
            var configuration = ClientConfiguration.Load(directory);
            var agent = new TpmHostAgent(configuration.Tpm ?? throw new CliException($"'{directory}' is not configured for TPM mode (--tpm)."), directory);
            var document = BaselineCapture.Capture(agent, GuardedHostClient.ReadEventLog(configuration.EventLogPath),
                parse.GetValue(hardwareClass) ?? Environment.MachineName, DateTimeOffset.UtcNow);
            CliOutput.WritePublicFile(parse.GetValue(output)!, JsonSerializer.SerializeToUtf8Bytes(document, WireJson.Default.BaselineDocument));
            CliOutput.Line($"Baseline for hardware class '{document.HardwareClass}' written to {parse.GetValue(output)} (Secure Boot {(document.SecureBootEnabled == true ? "enabled" : "not enabled")}).");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

#if !HGS_HOST_EDITION
    // Fabric administration: not in the guarded-host edition.
    public static Command AddTpmHost()
    {
        var name = new Option<string>("--name") { Description = "Host name.", Required = true };
        var identity = CliOptions.RequiredPath("--identity", "The TPM identity file from 'hgs client identify'.");
        var allow = new Option<bool>("--allow-without-certificate") { Description = "Register a TPM that has no EK certificate (trust it on the admin's word)." };
        return AdminCommands.Admin("add-tpm", "Register a TPM host by its EK (the EK certificate must chain to a registered TPM root).", [name, identity, allow], Connect,
            async (client, parse, json, ct) =>
            {
                var document = ReadJson(parse.GetValue(identity)!, "TPM identity", WireJson.Default.TpmIdentity);
                var host = await client.AddHostAsync(parse.GetValue(name)!, document, parse.GetValue(allow), ct).ConfigureAwait(false);
                if (document.EkCertificate is null)
                {
                    // Only the admin's word vouches for this EK: say so loudly, whatever the output format.
                    CliOutput.Warning($"TPM host {host.Name} was registered WITHOUT an EK certificate: nothing proves its EK is in a genuine TPM " +
                        "(a software TPM would be accepted). Do this only for an EK you verified out of band.");
                }
                if (json)
                {
                    CliOutput.Json(host, WireJson.Default.HostInfo);
                }
                else
                {
                    CliOutput.Line($"Registered TPM host {host.Name} (EK {host.KeyThumbprint[..16]}…).");
                }
            });
    }

    /// <summary>Stores an EK certificate for a registered TPM host that has none, without registering it again (design change 85).</summary>
    public static Command SetEkCertificate()
    {
        var name = new Argument<string>("NAME") { Description = "Host name." };
        var file = CliOptions.RequiredPath("--ek-cert", "The TPM's EK certificate (PEM or DER; 'hgs client identify' on the host shows whether the TPM has one).");
        return AdminCommands.Admin("set-ek-certificate", "Store the EK certificate of a registered TPM host that has none (it must certify the registered EK and chain to a registered TPM root).",
            [name, file], Connect, async (client, parse, json, ct) =>
            {
                byte[] bytes = CliOutput.ReadFile(parse.GetValue(file)!, "EK certificate", 64 * 1024);
                string text = System.Text.Encoding.ASCII.GetString(bytes);
                byte[] der;
                try
                {
                    der = text.Contains("-----BEGIN", StringComparison.Ordinal) ? Convert.FromBase64String(text[System.Security.Cryptography.PemEncoding.Find(text).Base64Data]) : bytes;
                }
                catch (Exception e) when (e is ArgumentException or FormatException)
                {
                    throw new CliException($"'{parse.GetValue(file)}' is neither a DER certificate nor PEM.");
                }

                var host = await client.SetEkCertificateAsync(parse.GetValue(name)!, der, ct).ConfigureAwait(false);
                if (json)
                {
                    CliOutput.Json(host, WireJson.Default.HostInfo);
                }
                else
                {
                    CliOutput.Line($"Stored the EK certificate of TPM host {host.Name} (EK {host.KeyThumbprint[..16]}…); its attestations are checked against the CRLs from now on.");
                }
            });
    }

    public static Command TpmRoots()
    {
        var roots = new Command("tpm-roots", "TPM manufacturer root and intermediate certificates EK certificates must chain to.");
        var file = new Argument<string>("FILE") { Description = "Certificate file (PEM or DER)." };
        roots.Subcommands.Add(AdminCommands.Admin("add", "Register a TPM manufacturer root (self-signed) or intermediate certificate.", [file], Connect, async (client, parse, json, ct) =>
        {
            byte[] bytes = CliOutput.ReadFile(parse.GetValue(file)!, "certificate", 64 * 1024);
            string text = System.Text.Encoding.ASCII.GetString(bytes);
            var root = await client.AddRootAsync(text.Contains("-----BEGIN", StringComparison.Ordinal) ? text : Convert.ToBase64String(bytes), ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(root, WireJson.Default.TpmRootInfo);
            }
            else
            {
                CliOutput.Line($"Registered TPM root {root.Subject} ({root.Thumbprint[..16]}…).");
            }
        }));
        roots.Subcommands.Add(AdminCommands.Admin("list", "List registered TPM roots (and, without --json, the imported CRLs: 'list-crls').", [], Connect, async (client, parse, json, ct) =>
        {
            var list = await client.ListRootsAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListTpmRootInfo);
                return;
            }

            var crls = await client.ListCrlsAsync(ct).ConfigureAwait(false);
            foreach (var r in list)
            {
                var crl = crls.FirstOrDefault(c => c.IssuerThumbprint == r.Thumbprint);
                CliOutput.Line($"{r.Thumbprint[..16]} {r.Subject}{(crl is null ? string.Empty : $" [CRL {CrlSummary(crl)}]")}");
            }
        }));
        AddCrlCommands(roots);
        var thumbprint = new Argument<string>("THUMBPRINT") { Description = "SHA-256 thumbprint, or a unique prefix of at least 16 hex digits ('hgs tpm-roots list')." };
        roots.Subcommands.Add(AdminCommands.Admin("remove", "Remove a TPM root: registering EKs through it is refused from now on (registered hosts stay).", [thumbprint], Connect, async (client, parse, json, ct) =>
        {
            var root = await client.RemoveRootAsync(parse.GetValue(thumbprint)!, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(root, WireJson.Default.TpmRootInfo);
            }
            else
            {
                CliOutput.Line($"Removed TPM root {root.Subject} ({root.Thumbprint[..16]}…).");
            }
        }));
        return roots;
    }

    /// <summary><c>tpm-roots add-crl|list-crls|remove-crl</c>: the TPM manufacturers' CRLs (design change 69).</summary>
    private static void AddCrlCommands(Command roots)
    {
        var file = new Argument<string>("FILE") { Description = "CRL file (PEM or DER), signed by a registered root or intermediate." };
        roots.Subcommands.Add(AdminCommands.Admin("add-crl", "Import a TPM manufacturer's CRL: EK certificates (and intermediates) it lists are refused at registration and, for hosts registered with their certificate, at attestation.", [file], Connect,
            async (client, parse, json, ct) =>
            {
                byte[] bytes = CliOutput.ReadFile(parse.GetValue(file)!, "CRL", 4 * 1024 * 1024);
                string text = System.Text.Encoding.ASCII.GetString(bytes);
                var crl = await client.AddCrlAsync(text.Contains("-----BEGIN", StringComparison.Ordinal) ? text : Convert.ToBase64String(bytes), ct).ConfigureAwait(false);
                if (json)
                {
                    CliOutput.Json(crl, WireJson.Default.TpmCrlInfo);
                }
                else
                {
                    CliOutput.Line($"Imported the CRL of {crl.IssuerSubject} ({CrlSummary(crl)}).");
                    foreach (var host in crl.RevokedHosts ?? [])
                    {
                        CliOutput.Line($"Revokes registered host {host.Name}: {host.Detail}; its attestations are refused from now on.");
                    }

                    if (crl.UncheckedHosts is { Count: > 0 } notReached)
                    {
                        CliOutput.Line($"Cannot check {notReached.Count} TPM host(s) registered without a stored EK certificate: {string.Join(", ", notReached)} (attach their EK certificate with 'hgs hosts set-ek-certificate').");
                    }
                }
            }));
        roots.Subcommands.Add(AdminCommands.Admin("list-crls", "List imported TPM CRLs.", [], Connect, async (client, parse, json, ct) =>
        {
            var list = await client.ListCrlsAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListTpmCrlInfo);
                return;
            }

            foreach (var c in list)
            {
                CliOutput.Line($"{c.IssuerThumbprint[..16]} {c.IssuerSubject} {CrlSummary(c)}");
            }
        }));
        var issuer = new Argument<string>("ISSUER") { Description = "The issuer's SHA-256 thumbprint, or a unique prefix of at least 16 hex digits ('hgs tpm-roots list-crls')." };
        roots.Subcommands.Add(AdminCommands.Admin("remove-crl", "Remove an issuer's CRL: its EK certificates are no longer checked for revocation.", [issuer], Connect, async (client, parse, json, ct) =>
        {
            var crl = await client.RemoveCrlAsync(parse.GetValue(issuer)!, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(crl, WireJson.Default.TpmCrlInfo);
            }
            else
            {
                CliOutput.Line($"Removed the CRL of {crl.IssuerSubject} ({crl.IssuerThumbprint[..16]}…).");
            }
        }));
    }

    private static string CrlSummary(TpmCrlInfo crl) =>
        $"number {(crl.CrlNumber.Length == 0 ? "none" : crl.CrlNumber)}, {crl.Revoked} revoked, next update {crl.NextUpdate.UtcDateTime:yyyy-MM-dd HH:mm}Z";

    internal static TpmAdminClient Connect(string[] urls, string? token, ClientTlsOptions tls) => new(urls, token, tls);
#endif

    internal static T ReadJson<T>(string path, string what, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        byte[] bytes = CliOutput.ReadFile(path, what, 4 * 1024 * 1024);
        try
        {
            return JsonSerializer.Deserialize(bytes, type) ?? throw new CliException($"{what} '{path}' is empty.");
        }
        catch (JsonException ex)
        {
            throw new CliException($"{what} '{path}' is not valid: {ex.Message}");
        }
    }
}
