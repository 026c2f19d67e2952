using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using OpenHgs.Cli.Commands;

namespace OpenHgs.Cli;

/// <summary>The <c>hgs</c> command tree, grouped like the HGS cmdlets.</summary>
public static class HgsCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("OpenHGS — Host Guardian Service for Linux fabrics, keys in an HSM.");
#if HGS_HOST_EDITION
        // The guarded-host edition (scripts/publish.sh): a host attests and unlocks; it administers nothing.
        root.Subcommands.Add(ClientCommands.Build());
        root.Subcommands.Add(EventLogCommands.Build());
#else
        root.Subcommands.Add(QuickstartCommand.Build());
        root.Subcommands.Add(ServerCommands.Build());
        root.Subcommands.Add(AdminCommands.Keys());
        root.Subcommands.Add(AdminCommands.Hosts());
        root.Subcommands.Add(TenantCommands.Guardian());
        root.Subcommands.Add(TenantCommands.KeyProtector());
        root.Subcommands.Add(ClientCommands.Build());
        root.Subcommands.Add(AuditCommands.Audit());
        root.Subcommands.Add(DiagnoseCommand.Build());
        root.Subcommands.Add(EventLogCommands.Build());
        root.Subcommands.Add(EvidenceCommands.Build());
        root.Subcommands.Add(PolicyCommands.Build());
        root.Subcommands.Add(TpmCommands.TpmRoots());
#endif
        return root;
    }

    public static Task<int> RunAsync(string[] args)
    {
        var parse = Build().Parse(args);
        if (parse.Action is not ParseErrorAction)
        {
            return parse.InvokeAsync();
        }

        // System.CommandLine would print its parse errors unprefixed and exit 1, the code this CLI keeps for refusals.
        // Report them like every other error instead: one "error: " line on stderr and exit 2 (bad input); usage on stdout.
        Console.Error.WriteLine($"error: {string.Join(" ", parse.Errors.Select(e => e.Message))} See '{CommandPath(parse.CommandResult)} --help'.");
        new HelpAction().Invoke(parse);
        return Task.FromResult(ExitCodes.BadInput);
    }

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? result = command; result is CommandResult current; result = current.Parent)
        {
            names.Insert(0, current.Parent is null ? "hgs" : current.Command.Name);
        }

        return string.Join(' ', names);
    }
}
