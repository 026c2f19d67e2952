using System.CommandLine;
using System.Globalization;
using OpenHgs.Client.ShieldedVms;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.ShieldedVms;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs vm</c>: the VM owner's shielded VM bundles (docs/shielded-vms.md).</summary>
internal static class VmCommands
{
    public static Command Build()
    {
        var vm = new Command("vm", "Shielded VMs: a key protector and a vTPM whose state only a healthy guarded host can open.");
        vm.Subcommands.Add(New());
        vm.Subcommands.Add(Show());
        vm.Subcommands.Add(Grant());
        vm.Subcommands.Add(Revoke());
        return vm;
    }

    private static Command New()
    {
        var name = new Option<string>("--name") { Description = "The VM's name.", Required = true };
        var owner = CliOptions.RequiredPath("--owner", "Owner guardian file (from 'hgs guardian new').");
        var guardians = new Option<string[]>("--guardian") { Description = "Guardian metadata of a fabric where the VM may run (repeatable; from 'hgs guardian export').", Arity = ArgumentArity.ZeroOrMore };
        var output = CliOptions.RequiredPath("--out", "The bundle folder to create (must not exist).");
        var json = CliOptions.Json();
        var command = new Command("new", "Create a shielded VM bundle: a fresh transport key, its key protector, and a new vTPM whose state is encrypted under it.")
        {
            name, owner, guardians, output, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            string folder = parse.GetValue(output)!;
            if (CliOutput.Taken(folder))
            {
                throw new CliException($"--out '{folder}' already exists: a bundle is created in a new folder.");
            }

            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            var granted = (parse.GetValue(guardians) ?? []).Select(GuardianFiles.LoadMetadata).ToList();
            var manifest = ShieldedVmBundle.Create(folder, parse.GetValue(name)!, ownerGuardian, granted, TimeProvider.System);
            Print(manifest, folder, parse.GetValue(json));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Show()
    {
        var folder = new Argument<string>("BUNDLE") { Description = "The bundle folder." };
        var json = CliOptions.Json();
        var command = new Command("show", "Show a shielded VM bundle after checking that its key protector and vTPM state are the ones it names.") { folder, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            Print(ShieldedVmBundle.Load(parse.GetValue(folder)!).Manifest, parse.GetValue(folder)!, parse.GetValue(json));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Grant()
    {
        var (folder, owner, guardian, json) = EditOptions("Guardian metadata file of the fabric to grant (from 'hgs guardian export').");
        var command = new Command("grant", "Grant a fabric's guardian a shielded VM bundle (needs the owner's keys): its key protector gets a wrapping for it, the manifest names it.")
        {
            folder, owner, guardian, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            var added = GuardianFiles.LoadMetadata(parse.GetValue(guardian)!);
            string bundle = parse.GetValue(folder)!;
            var manifest = ShieldedVmBundle.Grant(bundle, ownerGuardian, added);
            if (!parse.GetValue(json))
            {
                CliOutput.Line($"Granted '{added.Name}'.");
            }

            Print(manifest, bundle, parse.GetValue(json));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static Command Revoke()
    {
        var (folder, owner, guardian, json) = EditOptions("Guardian to revoke: its name, or its metadata file.");
        var command = new Command("revoke", "Revoke a guardian from a shielded VM bundle (needs the owner's keys). The transport key is kept: the revocation takes effect once the VM is started on a fabric still granted and re-sealed at vm-stop (docs/key-protector.md §6.1).")
        {
            folder, owner, guardian, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            using var ownerGuardian = GuardianFiles.LoadOwner(parse.GetValue(owner)!);
            string target = parse.GetValue(guardian)!;
            string name = GuardianFiles.NameOf(target);
            string bundle = parse.GetValue(folder)!;
            var manifest = ShieldedVmBundle.Revoke(bundle, ownerGuardian, name);
            if (!parse.GetValue(json))
            {
                CliOutput.Line($"Revoked '{name}'. It can still open the VM until the VM is started on a fabric still granted and stopped (re-sealed): docs/key-protector.md §6.1.");
            }

            Print(manifest, bundle, parse.GetValue(json));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    private static (Argument<string> Bundle, Option<string> Owner, Option<string> Guardian, Option<bool> Json) EditOptions(string guardianDescription) => (
        new Argument<string>("BUNDLE") { Description = "The bundle folder to change (checked as 'hgs vm show' does first)." },
        CliOptions.RequiredPath("--owner", "Owner guardian file (from 'hgs guardian new')."),
        CliOptions.RequiredPath("--guardian", guardianDescription),
        CliOptions.Json());

    private static void Print(ShieldedVmManifest manifest, string folder, bool json)
    {
        if (json)
        {
            CliOutput.Json(manifest, WireJson.Default.ShieldedVmManifest);
            return;
        }

        CliOutput.Line($"Shielded VM '{manifest.Name}' in {folder}");
        CliOutput.Line($"  owner:     {manifest.Owner}");
        CliOutput.Line($"  guardians: {(manifest.Guardians.Count == 0 ? "(none: only the owner can open it)" : string.Join(", ", manifest.Guardians))}");
        CliOutput.Line($"  created:   {manifest.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}");
        CliOutput.Line($"  vTPM:      {manifest.Vtpm.Emulator}, state encrypted ({manifest.Vtpm.Cipher}) under the transport key, SHA-256 {manifest.Vtpm.State.Sha256[..16]}…");
        CliOutput.Line($"  key protector: {manifest.KeyProtector.File}, SHA-256 {manifest.KeyProtector.Sha256[..16]}…");
    }
}
