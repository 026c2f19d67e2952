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
        Description = "Admin credential (default: $HGS_ADMIN_TOKEN; not needed when the service authenticates admins by client certificate only).",
    };

    public static Option<string> ClientCertificate() => new("--client-cert")
    {
        Description = "Admin client certificate (PEM) for a service with --admin-client-ca (default: $HGS_CLIENT_CERT).",
    };

    public static Option<string> ClientKey() => new("--client-key")
    {
        Description = "Private key (PEM) of --client-cert (default: $HGS_CLIENT_KEY).",
    };

    public static Option<string> CaCertificate() => new("--ca-cert")
    {
        Description = "Trust exactly this CA (PEM) for the service's https certificate instead of the system roots (default: $HGS_CACERT).",
    };

    public static Option<string> RequiredPath(string name, string description) => new(name) { Description = description, Required = true };

    public static Option<string> Path(string name, string description) => new(name) { Description = description };
}
