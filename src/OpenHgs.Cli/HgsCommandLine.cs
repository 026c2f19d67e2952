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
        root.Subcommands.Add(VmCommands.Build());
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
        string suggestions = string.Concat(parse.UnmatchedTokens.Select(token => Suggest(token, parse.CommandResult.Command) is { } match ? $" Did you mean '{match}'?" : string.Empty));
        var failure = new CliFailure(ExitCodes.BadInput, "UsageInvalid", $"{string.Join(" ", parse.Errors.Select(e => e.Message))}{suggestions} See '{CommandPath(parse.CommandResult)} --help'.", Coded: false);
        Console.Error.WriteLine("error: " + failure.Line);
        if (args.Contains("--json", StringComparer.Ordinal))
        {
            CliErrors.WriteJson(failure);
        }
        else
        {
            new HelpAction().Invoke(parse);
        }

        return Task.FromResult(ExitCodes.BadInput);
    }

    /// <summary>The subcommand or option of <paramref name="command"/> closest to a mistyped token, if one is close.</summary>
    internal static string? Suggest(string token, Command command)
    {
        var names = command.Subcommands.Select(c => c.Name)
            .Concat(command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)));
        int allowed = Math.Max(1, token.Length / 3);
        return names
            .Select(name => (Name: name, Distance: EditDistance(token, name)))
            .Where(c => c.Distance <= allowed)
            .OrderBy(c => c.Distance)
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => c.Name)
            .FirstOrDefault();
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.</summary>
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
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
