using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary>Guarded host commands: <c>client keygen|configure|attest|unlock|status|vm-start|vm-stop</c>.</summary>
internal static class ClientCommands
{
    public static Command Build()
    {
        var client = new Command("client", "The guarded host: attest and unlock shielded VMs' key protectors.");
        client.Subcommands.Add(Keygen());
        client.Subcommands.Add(Configure());
        client.Subcommands.Add(Attest());
        client.Subcommands.Add(Unlock());
        client.Subcommands.Add(Status());
        client.Subcommands.Add(ClientVmCommands.Start());
        client.Subcommands.Add(ClientVmCommands.Stop());
        client.Subcommands.Add(TpmCommands.Identify());
        client.Subcommands.Add(TpmCommands.Baseline());
        return client;
    }

    private static Command Keygen()
    {
        var output = CliOptions.RequiredPath("--out", "Folder for the host's key pair.");
        var signingKey = new Option<string>("--signing-key")
        {
            Description = "Type of the host signing key (the one the admin registers): p256 (default; ES256), p384 (ES384) or rsa3072 (RS256). "
                + "The encryption key is RSA-2048 either way.",
            HelpName = string.Join("|", HostSigningKeyTypes.Names),
        };
        var command = new Command("keygen", "Generate the host's signing and encryption keys; prints the public key file to register.") { output, signingKey };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            var signingKeyType = ParseSigningKeyType(parse.GetValue(signingKey));
            string directory = parse.GetValue(output)!;
            Directory.CreateDirectory(directory);
            CliOutput.Line(HostKeyPair.Generate(directory, signingKeyType));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static HostSigningKeyType ParseSigningKeyType(string? text) =>
        text is null ? HostSigningKeyType.P256
            : HostSigningKeyTypes.TryParse(text)
              ?? throw new CliException($"--signing-key: '{text}' is not one of {string.Join(", ", HostSigningKeyTypes.Names)}.");

    private static Command Configure()
    {
        var state = CliOptions.State();
        var attestation = new Option<string>("--attestation-url") { Description = "Attestation service URL(s), comma-separated, in order of preference.", Required = true };
        var keyProtection = new Option<string>("--key-protection-url") { Description = "Key protection service URL(s), comma-separated.", Required = true };
        var hostKey = CliOptions.Path("--host-key", "Folder with the host keys (from 'hgs client keygen'): host-key mode.");
        var tpm = TpmCommands.TpmOption(required: false);
        var eventLog = CliOptions.Path("--event-log", $"TPM mode: the TCG event log (default {ClientConfiguration.DefaultEventLog}).");
        var caCertificate = CliOptions.CaCertificate();
        var command = new Command("configure", "Configure where this host attests and unlocks (--host-key, or --tpm which also activates the TPM's attestation key).")
        {
            state, attestation, keyProtection, hostKey, tpm, eventLog, caCertificate,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string folder = CliOptions.StateFolder(parse.GetValue(state));
            string[] attestationUrls = CliOptions.ServiceUrls(parse.GetValue(attestation)!, "--attestation-url");
            string[] keyProtectionUrls = CliOptions.ServiceUrls(parse.GetValue(keyProtection)!, "--key-protection-url");
            string? keys = parse.GetValue(hostKey) is { } k ? Path.GetFullPath(k) : null;
            if (keys is not null)
            {
                HostKeyPair.Load(keys).Dispose();
            }

            string? eventLogPath = parse.GetValue(eventLog) is { } e ? Path.GetFullPath(e) : null;
            // Stored in the state (absolute), so attest and unlock trust exactly this CA without being told again.
            string? ca = CliEnvironment.Path(parse.GetValue(caCertificate), "HGS_CACERT");
            var configuration = new ClientConfiguration(attestationUrls, keyProtectionUrls, keys, parse.GetValue(tpm), eventLogPath, ca);
            configuration.Tls.CreateHandler().Dispose();
            configuration.Save(folder);
            CliOutput.Line($"Configured {folder}: attestation {string.Join(", ", configuration.AttestationUrls)}; key protection {string.Join(", ", configuration.KeyProtectionUrls)}.");
            if (configuration.Tpm is not null)
            {
                using var client = new GuardedHostClient(folder);
                try
                {
                    var activated = await client.ActivateTpmAsync(ct).ConfigureAwait(false);
                    CliOutput.Line($"TPM attestation key activated for host {activated.HostName} (AK {activated.AkName[..20]}…).");
                }
                catch (HgsClientException ex) when (ex.Code == "EkNotRegistered")
                {
                    // Configuring before the admin registers the TPM is the usual order on a new host: the next
                    // 'client attest' activates the AK once the registration exists.
                    CliOutput.Warning($"this TPM is not registered with the service yet ({ex.Code}); give the admin the identity from 'hgs client identify'. The next 'hgs client attest' activates the attestation key.");
                }
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Attest()
    {
        var state = CliOptions.State();
        var json = CliOptions.Json();
        var command = new Command("attest", "Attest now and save the health certificate; non-zero exit on failure.") { state, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            using var client = new GuardedHostClient(CliOptions.StateFolder(parse.GetValue(state)));
            var outcome = await client.AttestAsync(ct).ConfigureAwait(false);
            if (!outcome.Passed && outcome.Response.Reasons.Any(r => r.Code == "AkNotActivated"))
            {
                // Configured before it was registered (or re-registered since): activate the AK now and attest again.
                await client.ActivateTpmAsync(ct).ConfigureAwait(false);
                outcome = await client.AttestAsync(ct).ConfigureAwait(false);
            }

            if (parse.GetValue(json))
            {
                CliOutput.Json(outcome.Response, WireJson.Default.AttestResponse);
            }
            else if (outcome.Passed)
            {
                CliOutput.Line($"Passed: health certificate valid until {outcome.Response.ValidUntil:O} (policy version {outcome.Response.PolicyVersion}).");
            }

            // Like 'audit verify': the report (if asked for) on stdout, and the one-line reason on stderr.
            return outcome.Passed
                ? ExitCodes.Success
                : throw CliErrors.AfterResult(new CliException($"{outcome.Response.Status}: " + string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code}: {r.Message}")), ExitCodes.Refused), parse.GetValue(json));
        }));
        return command;
    }

    private static Command Unlock()
    {
        var state = CliOptions.State();
        var kp = CliOptions.RequiredPath("--kp", "Key protector file.");
        var output = CliOptions.RequiredPath("--out", "Where to write the 32-byte transport key (mode 0600).");
        var egress = CliOptions.Path("--egress-out", "Where to write the rolled (egress) key protector.");
        var egressKey = CliOptions.Path("--egress-key-out", "Where to write the egress key protector's 32-byte transport key (mode 0600), to re-seal the VM with; needs --egress-out.");
        var command = new Command("unlock", "Exchange a key protector for its transport key (attests first if needed); every key is checked against its key protector before anything is written.") { state, kp, output, egress, egressKey };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string keyPath = parse.GetValue(output)!;
            string? egressPath = parse.GetValue(egress);
            string? egressKeyPath = parse.GetValue(egressKey);
            if (egressKeyPath is not null && egressPath is null)
            {
                // Data re-sealed with the egress key opens only through the egress key protector: never keep one without the other.
                throw new CliException("--egress-key-out needs --egress-out (the egress key protector that carries that key).");
            }

            string[] targets = [keyPath, .. new[] { egressPath, egressKeyPath }.OfType<string>()];
            CliOutput.RequireNewFiles(targets, "--out, --egress-out and --egress-key-out");
            byte[] protector = CliOutput.ReadFile(parse.GetValue(kp)!, "key protector", OpenHgs.Protocol.KeyProtection.KeyProtector.MaxBytes);
            using var client = new GuardedHostClient(CliOptions.StateFolder(parse.GetValue(state)));
            var outcome = await client.UnlockAsync(protector, ct).ConfigureAwait(false);
            try
            {
                var writes = new List<(string Path, Action<string> Write)> { (keyPath, path => CliOutput.WriteSecretFile(path, outcome.TransportKey)) };
                if (egressPath is not null)
                {
                    writes.Add((egressPath, path => CliOutput.WritePublicFile(path, outcome.EgressKeyProtector)));
                }

                if (egressKeyPath is not null)
                {
                    writes.Add((egressKeyPath, path => CliOutput.WriteSecretFile(path, outcome.EgressTransportKey)));
                }

                CliOutput.WriteAllOrNothing(writes);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(outcome.TransportKey);
                CryptographicOperations.ZeroMemory(outcome.EgressTransportKey);
            }

            CliOutput.Line($"Transport key written to {keyPath}.");
            if (egressPath is not null)
            {
                CliOutput.Line(egressKeyPath is null
                    ? $"Egress key protector written to {egressPath}."
                    : $"Egress key protector written to {egressPath}, its transport key to {egressKeyPath}: re-seal the VM with it and keep the egress key protector.");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Status()
    {
        var state = CliOptions.State();
        var json = CliOptions.Json();
        var command = new Command("status", "Show this host's configuration and health certificate.") { state, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            string directory = CliOptions.StateFolder(parse.GetValue(state));
            var configuration = ClientConfiguration.Load(directory);
            string certificatePath = Path.Combine(directory, ClientConfiguration.HealthCertificateFile);
            using var certificate = File.Exists(certificatePath) ? X509CertificateLoader.LoadCertificateFromFile(certificatePath) : null;
            var report = new JsonObject
            {
                ["attestationUrls"] = new JsonArray([.. configuration.AttestationUrls.Select(u => (JsonNode?)u)]),
                ["keyProtectionUrls"] = new JsonArray([.. configuration.KeyProtectionUrls.Select(u => (JsonNode?)u)]),
                ["hostKeyDirectory"] = configuration.HostKeyDirectory,
                ["tpm"] = configuration.Tpm,
                ["eventLog"] = configuration.Tpm is null ? null : configuration.EventLogPath,
                ["caCertificate"] = configuration.CaCertificate,
                ["healthCertificate"] = certificate is null ? null : new JsonObject
                {
                    ["subject"] = certificate.Subject,
                    ["notAfter"] = certificate.NotAfter.ToUniversalTime().ToString("O"),
                    ["valid"] = certificate.NotAfter.ToUniversalTime() > DateTime.UtcNow,
                },
            };
            if (parse.GetValue(json))
            {
                CliOutput.Json(report);
            }
            else
            {
                CliOutput.Line(certificate is null ? "No health certificate yet; run 'hgs client attest'." : $"Health certificate for {certificate.Subject}, valid until {certificate.NotAfter.ToUniversalTime():O}.");
            }

            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }
}
