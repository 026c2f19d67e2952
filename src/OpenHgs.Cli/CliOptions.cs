using System.CommandLine;

namespace OpenHgs.Cli;

/// <summary>Options shared by several commands, so each is spelled and described once.</summary>
internal static class CliOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Print the result as JSON." };

    public static Option<string> Url() => new("--url")
    {
        Description = "Service URL(s), comma-separated for failover (default: $HGS_URL).",
    };

    public static Option<string> Token() => new("--token")
    {
        Description = "Admin credential (default: $HGS_ADMIN_TOKEN).",
    };

    public static Option<string> RequiredPath(string name, string description) => new(name) { Description = description, Required = true };

    public static Option<string> Path(string name, string description) => new(name) { Description = description };
}
