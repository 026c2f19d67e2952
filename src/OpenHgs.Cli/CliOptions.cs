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

    public static Option<string> TokenFile() => new("--token-file")
    {
        Description = "File holding the admin credential (default: $HGS_ADMIN_TOKEN_FILE), e.g. DATA/admin.token: keeps it out of the process list and shell history.",
    };

    /// <summary>The host's state folder option; <see cref="StateFolder"/> resolves it.</summary>
    public static Option<string> State(string description = "The host's state folder (default: $HGS_CLIENT_STATE).") => new("--state") { Description = description };

    /// <summary><c>--state</c>, else <c>$HGS_CLIENT_STATE</c> (so a host's commands need not repeat it), else bad input.</summary>
    public static string StateFolder(string? option) =>
        option ?? (Environment.GetEnvironmentVariable("HGS_CLIENT_STATE") is { Length: > 0 } folder
            ? folder
            : throw new CliException("no state folder: pass --state or set HGS_CLIENT_STATE."));

    /// <summary>
    /// A comma-separated list of service base URLs, each an absolute http:// or https:// URL without credentials,
    /// query or fragment; anything else is bad input naming <paramref name="option"/> and the value.
    /// </summary>
    public static string[] ServiceUrls(string value, string option)
    {
        string[] urls = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            throw new CliException($"{option} names no URL.");
        }

        foreach (string url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            {
                throw new CliException($"{option}: '{url}' is not an http:// or https:// URL.");
            }

            if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            {
                throw new CliException($"{option}: '{url}' must not carry credentials, a query or a fragment.");
            }
        }

        return urls;
    }

    public static Option<string> RequiredPath(string name, string description) => new(name) { Description = description, Required = true };

    public static Option<string> Path(string name, string description) => new(name) { Description = description };
}
