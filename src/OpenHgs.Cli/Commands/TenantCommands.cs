using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Cli.Commands;

/// <summary>VM owner commands: guardians (<c>guardian new|show</c>) and key protectors (<c>kp new|grant|revoke|show</c>). All local, no service needed.</summary>
internal static class TenantCommands
{
    public static Command Guardian()
    {
        var guardian = new Command("guardian", "Guardians: a named signing + encryption certificate pair.");
        var name = new Option<string>("--name") { Description = "Guardian name.", Required = true };
        var output = CliOptions.RequiredPath("--out", "File for the guardian's private keys (mode 0600).");
        var publicOut = CliOptions.Path("--public-out", "Also write the guardian's public metadata here.");
        var create = new Command("new", "Create a local guardian (owner) with fresh keys.") { name, output, publicOut };
        create.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            string privatePath = parse.GetValue(output)!;
            string? publicPath = parse.GetValue(publicOut);
            CliOutput.RequireNewFiles(publicPath is null ? [privatePath] : [privatePath, publicPath], "--out and --public-out");
            using var owner = LocalGuardian.Create(parse.GetValue(name)!, TimeProvider.System);
            var writes = new List<(string, Action<string>)> { (privatePath, path => CliOutput.WriteSecretFile(path, System.Text.Encoding.UTF8.GetBytes(owner.ToJson()))) };
            if (publicPath is not null)
            {
                writes.Add((publicPath, path => CliOutput.WritePublicFile(path, System.Text.Encoding.UTF8.GetBytes(owner.Metadata.ToJson()))));
            }

            CliOutput.WriteAllOrNothing(writes);

            CliOutput.Line($"Guardian '{owner.Metadata.Name}' written to {parse.GetValue(output)} (private keys, mode 0600).");
            return Task.FromResult(ExitCodes.Success);
        }));
        guardian.Subcommands.Add(create);
        guardian.Subcommands.Add(AdminCommands.GuardianExport());
        return guardian;
    }

    public static Command KeyProtector()
    {
        var kp = new Command("kp", "Key protectors: a VM's transport key wrapped for its owner and granted guardians.");
        kp.Subcommands.Add(New());
        kp.Subcommands.Add(Grant());
        kp.Subcommands.Add(Revoke());
        kp.Subcommands.Add(Show());
        return kp;
    }

    private static Command New()
    {
        var owner = CliOptions.RequiredPath("--owner", "Owner guardian file (from 'hgs guardian new').");
        var guardians = new Option<string[]>("--guardian") { Description = "Guardian metadata file to grant (repeatable).", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var output = CliOptions.RequiredPath("--out", "Key protector file to write.");
        var transportKeyOut = CliOptions.Path("--transport-key-out", "Also write the 32-byte transport key here (mode 0600).");
        var command = new Command("new", "Create a key protector with a fresh random transport key.") { owner, guardians, output, transportKeyOut };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            string protectorPath = parse.GetValue(output)!;
            string? keyPath = parse.GetValue(transportKeyOut);
            CliOutput.RequireNewFiles(keyPath is null ? [protectorPath] : [protectorPath, keyPath], "--out and --transport-key-out");
            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            var granted = (parse.GetValue(guardians) ?? []).Select(GuardianFiles.LoadMetadata).ToList();
            byte[] transportKey = RandomNumberGenerator.GetBytes(KeyProtectorVerifier.TransportKeyBytes);
            try
            {
                var protector = KeyProtectorBuilder.Create(ownerGuardian, granted, transportKey);
                var writes = new List<(string, Action<string>)> { (protectorPath, path => CliOutput.WritePublicFile(path, protector.ToJson())) };
                if (keyPath is not null)
                {
                    byte[] key = transportKey;
                    writes.Add((keyPath, path => CliOutput.WriteSecretFile(path, key)));
                }

                CliOutput.WriteAllOrNothing(writes);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(transportKey);
            }

            CliOutput.Line($"Key protector written to {parse.GetValue(output)} (owner {ownerGuardian.Metadata.Name}; granted: {string.Join(", ", granted.Select(g => g.Name))}).");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Grant()
    {
        var (kpIn, owner, guardian, output) = EditOptions("Guardian metadata file to grant.");
        var command = new Command("grant", "Grant another guardian (needs the owner's keys).") { kpIn, owner, guardian, output };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            var added = GuardianFiles.LoadMetadata(parse.GetValue(guardian)!);
            var protector = KeyProtectorBuilder.Grant(LoadProtector(parse.GetValue(kpIn)!), ownerGuardian, added);
            CliOutput.WritePublicFile(parse.GetValue(output)!, protector.ToJson());
            CliOutput.Line($"Granted '{added.Name}'; key protector written to {parse.GetValue(output)}.");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Revoke()
    {
        var (kpIn, owner, guardian, output) = EditOptions("Guardian to revoke: its name, or its metadata file.");
        var command = new Command("revoke", "Revoke a guardian (needs the owner's keys).") { kpIn, owner, guardian, output };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            string target = parse.GetValue(guardian)!;
            string name = GuardianFiles.NameOf(target);
            var protector = KeyProtectorBuilder.Revoke(LoadProtector(parse.GetValue(kpIn)!), ownerGuardian, name);
            CliOutput.WritePublicFile(parse.GetValue(output)!, protector.ToJson());
            CliOutput.Line($"Revoked '{name}'; key protector written to {parse.GetValue(output)}.");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Show()
    {
        var file = new Argument<string>("KP") { Description = "Key protector file." };
        var json = CliOptions.Json();
        var command = new Command("show", "Show a key protector's guardians and check its signatures.") { file, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            var protector = LoadProtector(parse.GetValue(file)!);
            string? problem = null;
            KeyProtectorException? failure = null;
            try
            {
                KeyProtectorVerifier.VerifySignatures(protector);
            }
            catch (KeyProtectorException ex)
            {
                failure = ex;
                problem = $"{ex.Error}: {ex.Message}";
            }

            var wrappings = new JsonArray();
            foreach (var w in protector.Wrappings)
            {
                wrappings.Add(new JsonObject
                {
                    ["id"] = w.Id,
                    ["parentId"] = w.ParentId,
                    ["guardian"] = w.GuardianName,
                    ["owner"] = w.Id == protector.Owner.Id,
                    ["wrapAlgorithm"] = w.WrappedKey.Algorithm,
                    ["signingCertificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(w.SigningCertificate)),
                    ["encryptionCertificateSha256"] = Convert.ToHexStringLower(SHA256.HashData(w.EncryptionCertificate)),
                });
            }

            var report = new JsonObject
            {
                ["version"] = protector.Version,
                ["owner"] = protector.Owner.GuardianName,
                ["signedBy"] = protector.GuardianSignature.WrappingId,
                ["signaturesValid"] = problem is null,
                ["problem"] = problem,
                ["wrappings"] = wrappings,
            };
            if (parse.GetValue(json))
            {
                CliOutput.Json(report);
            }
            else
            {
                CliOutput.Line($"Key protector v{protector.Version}, owner '{protector.Owner.GuardianName}', signatures {(problem is null ? "valid" : "INVALID: " + problem)}");
                foreach (var w in protector.Wrappings)
                {
                    CliOutput.Line($"  {w.GuardianName,-32} {w.WrappedKey.Algorithm,-12} id {w.Id}{(w.Id == protector.Owner.Id ? " (owner)" : string.Empty)}");
                }
            }

            // The report is on stdout; the one-line reason goes to stderr and the exit code to 1, as for any refusal.
            return failure is null ? Task.FromResult(ExitCodes.Success) : throw CliErrors.AfterResult(failure, parse.GetValue(json));
        }));
        return command;
    }

    private static (Option<string> Kp, Option<string> Owner, Option<string> Guardian, Option<string> Output) EditOptions(string guardianDescription) => (
        CliOptions.RequiredPath("--kp", "Key protector file to change."),
        CliOptions.RequiredPath("--owner", "Owner guardian file."),
        CliOptions.RequiredPath("--guardian", guardianDescription),
        CliOptions.RequiredPath("--out", "Where to write the changed key protector."));

    private static KeyProtector LoadProtector(string path) =>
        OpenHgs.Protocol.KeyProtection.KeyProtector.Parse(CliOutput.ReadFile(path, "key protector", OpenHgs.Protocol.KeyProtection.KeyProtector.MaxBytes));
}
