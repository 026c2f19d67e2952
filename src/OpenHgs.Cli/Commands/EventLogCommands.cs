using System.CommandLine;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs eventlog show FILE [--json]</c>: parse a TCG event log and print its events and replayed PCRs (needs no service).</summary>
internal static class EventLogCommands
{
    public static Command Build()
    {
        var group = new Command("eventlog", "Read TCG PC Client event logs (binary_bios_measurements).");
        group.Subcommands.Add(Show());
        return group;
    }

    private static Command Show()
    {
        var file = new Argument<string>("FILE") { Description = "The event log, e.g. /sys/kernel/security/tpm0/binary_bios_measurements." };
        var json = CliOptions.Json();
        var command = new Command("show", "Parse an event log; print its events and the replayed PCR values per bank.") { file, json };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () =>
        {
            var log = Load(parse.GetValue(file)!);
            Console.Out.WriteLine(TerminalText.InertLines(parse.GetValue(json) ? EventLogReport.ToJson(log) : EventLogReport.ToText(log)));
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }

    /// <summary>Reads and parses an event log; a malformed log is bad input with the parser's offset and reason.</summary>
    public static EventLog Load(string path)
    {
        byte[] bytes = CliOutput.ReadFile(path, "event log", EventLogParser.MaxLogSize);
        try
        {
            return EventLogParser.Parse(bytes);
        }
        catch (EventLogFormatException ex)
        {
            throw new CliException($"'{path}' is not a valid TCG event log: {ex.Message}");
        }
    }
}
