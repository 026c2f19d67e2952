using System.Diagnostics;
using System.Text;

namespace OpenHgs.Testing;

/// <summary>
/// The real CLI as a child process: <c>dotnet hgs.dll ARGS</c> from the running program's folder (the test and bench
/// projects reference OpenHgs.Cli, so hgs.dll, its deps.json and runtimeconfig.json are copied beside them).
/// </summary>
/// <remarks>
/// The child inherits this process's environment (which carries <c>SOFTHSM2_CONF</c> and token PIN variables set
/// by <see cref="SoftHsmToken"/>), except <c>HGS_URL</c>, <c>HGS_ADMIN_TOKEN</c>, the client state and the TLS
/// variables (<c>HGS_CACERT</c>, <c>HGS_CLIENT_CERT</c>, <c>HGS_CLIENT_KEY</c>), which are removed so that only what
/// the caller passes in <c>environment</c> reaches the CLI. A null value removes a variable.
/// </remarks>
public static class HgsCommand
{
    private static readonly string[] Isolated =
        ["HGS_URL", "HGS_ADMIN_TOKEN", "HGS_ADMIN_TOKEN_FILE", "HGS_CLIENT_STATE", "HGS_CACERT", "HGS_CLIENT_CERT", "HGS_CLIENT_KEY"];

    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "hgs.dll");

    /// <summary>The dotnet host running this process (the SDK publishes it as DOTNET_HOST_PATH), else dotnet on PATH.</summary>
    public static string DotnetHost { get; } = ResolveDotnet();

    /// <summary>The start info for <c>dotnet hgs.dll ARGS</c>, with all three streams redirected and the environment applied.</summary>
    public static ProcessStartInfo CreateStartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (!File.Exists(DllPath))
        {
            throw new FileNotFoundException($"hgs.dll is not in {AppContext.BaseDirectory}; does this project still reference OpenHgs.Cli?", DllPath);
        }

        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(DllPath);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (string inherited in Isolated)
        {
            start.Environment.Remove(inherited);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return start;
    }

    private static string ResolveDotnet()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        return "dotnet";
    }
}
