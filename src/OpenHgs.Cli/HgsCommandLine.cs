using System.CommandLine;
using OpenHgs.Cli.Commands;

namespace OpenHgs.Cli;

/// <summary>The <c>hgs</c> command tree, grouped like the HGS cmdlets.</summary>
public static class HgsCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("OpenHGS — Host Guardian Service for Linux fabrics, keys in an HSM.");
        root.Subcommands.Add(QuickstartCommand.Build());
        root.Subcommands.Add(ServerCommands.Build());
        root.Subcommands.Add(AdminCommands.Keys());
        root.Subcommands.Add(AdminCommands.Hosts());
        root.Subcommands.Add(TenantCommands.Guardian());
        root.Subcommands.Add(TenantCommands.KeyProtector());
        root.Subcommands.Add(ClientCommands.Build());
        root.Subcommands.Add(AdminCommands.Audit());
        return root;
    }

    public static Task<int> RunAsync(string[] args) => Build().Parse(args).InvokeAsync();
}
