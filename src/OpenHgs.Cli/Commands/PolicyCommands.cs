using System.CommandLine;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs policy list|enable|disable|stage|add-baseline|baselines|remove-baseline</c>: TPM attestation policies and baselines.</summary>
internal static class PolicyCommands
{
    public static Command Build()
    {
        var policy = new Command("policy", "TPM attestation policies (enabled, disabled or staged) and baselines.");
        policy.Subcommands.Add(AdminCommands.Admin("list", "List policies with their state.", [], TpmCommands.Connect, async (client, parse, json, ct) =>
        {
            var list = await client.ListPoliciesAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListPolicyInfo);
                return;
            }

            foreach (var p in list)
            {
                CliOutput.Line($"{p.Name,-26} {p.State,-9} {p.Description}");
            }
        }));
        policy.Subcommands.Add(SetState("enable", "enabled", "Enforce a policy: attestation fails when it fails."));
        policy.Subcommands.Add(SetState("disable", "disabled", "Stop evaluating a policy."));
        policy.Subcommands.Add(SetState("stage", "staged", "Evaluate and report a policy without failing attestation."));

        var name = new Option<string>("--name") { Description = "Baseline name.", Required = true };
        var file = CliOptions.RequiredPath("--file", "Baseline file from 'hgs client baseline'.");
        policy.Subcommands.Add(AdminCommands.Admin("add-baseline", "Register a reference host's baseline (hardware class).", [name, file], TpmCommands.Connect, async (client, parse, json, ct) =>
        {
            var document = TpmCommands.ReadJson(parse.GetValue(file)!, "baseline", WireJson.Default.BaselineDocument);
            var info = await client.AddBaselineAsync(parse.GetValue(name)!, document, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(info, WireJson.Default.BaselineInfo);
            }
            else
            {
                CliOutput.Line($"Registered baseline {info.Name} ({info.HardwareClass}); policy version {info.PolicyVersion}.");
            }
        }));
        policy.Subcommands.Add(AdminCommands.Admin("baselines", "List the registered baselines and their hardware classes.", [], TpmCommands.Connect, async (client, parse, json, ct) =>
        {
            var list = await client.ListBaselinesAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(list, WireJson.Default.ListBaselineInfo);
                return;
            }

            foreach (var b in list)
            {
                CliOutput.Line($"{b.Name,-24} {b.HardwareClass,-40} added {b.AddedAt:u}");
            }
        }));
        var removeName = new Argument<string>("NAME") { Description = "Baseline name (see 'hgs policy baselines')." };
        policy.Subcommands.Add(AdminCommands.Admin("remove-baseline", "Remove a baseline: its hardware class stops matching from the next attestation.", [removeName], TpmCommands.Connect, async (client, parse, json, ct) =>
        {
            var result = await client.RemoveBaselineAsync(parse.GetValue(removeName)!, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(result, WireJson.Default.PolicyChangeResult);
            }
            else
            {
                CliOutput.Line($"Removed baseline {result.Name}; policy version {result.PolicyVersion}.");
            }
        }));
        return policy;
    }

    private static Command SetState(string verb, string state, string description)
    {
        var name = new Argument<string>("NAME") { Description = "Policy name (see 'hgs policy list')." };
        return AdminCommands.Admin(verb, description, [name], TpmCommands.Connect, async (client, parse, json, ct) =>
        {
            var result = await client.SetPolicyStateAsync(parse.GetValue(name)!, state, ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(result, WireJson.Default.PolicyChangeResult);
            }
            else
            {
                CliOutput.Line($"Policy {result.Name} is {result.State}; policy version {result.PolicyVersion}.");
            }
        });
    }
}
