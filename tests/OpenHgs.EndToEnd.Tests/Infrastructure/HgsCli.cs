using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>What one run of the real <c>hgs</c> command line produced.</summary>
public sealed record CliResult(string Command, int ExitCode, string StdOut, string StdErr)
{
    /// <summary>Standard error split into lines, without the empty line a trailing newline leaves.</summary>
    public IReadOnlyList<string> ErrorLines => SplitLines(StdErr);

    /// <summary>Standard output parsed as one JSON document.</summary>
    public JsonNode Json()
    {
        try
        {
            return JsonNode.Parse(StdOut) ?? throw new InvalidOperationException("null JSON");
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"{this}\nstdout is not JSON: {ex.Message}");
        }
    }

    /// <summary>Fails the test with everything the command printed unless it exited with <paramref name="expected"/>.</summary>
    public CliResult Expect(int expected)
    {
        if (ExitCode != expected)
        {
            throw new Xunit.Sdk.XunitException($"expected exit code {expected}, got {ExitCode}\n{this}");
        }

        return this;
    }

    public CliResult Succeeded() => Expect(0);

    /// <summary>
    /// The error contract: a non-zero exit code <paramref name="expected"/>, and exactly one line on stderr that
    /// starts with <c>error: </c>. Returns that line.
    /// </summary>
    public string FailedWithOneErrorLine(int expected)
    {
        Expect(expected);
        var lines = ErrorLines;
        if (lines.Count != 1 || !lines[0].StartsWith("error: ", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException($"expected exactly one stderr line starting with 'error: '\n{this}");
        }

        return lines[0];
    }

    public override string ToString() => $"$ {Command}\nexit {ExitCode}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";

    private static List<string> SplitLines(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines;
    }
}

/// <summary>
/// Runs the real CLI as a child process: <c>dotnet hgs.dll ARGS</c> from the test output folder (the test project
/// references OpenHgs.Cli, so hgs.dll, its deps.json and runtimeconfig.json are copied beside the tests).
/// </summary>
/// <remarks>
/// The child inherits this process's environment (which carries <c>SOFTHSM2_CONF</c> and token PIN variables set
/// by <see cref="OpenHgs.Testing.SoftHsmToken"/>), except <c>HGS_URL</c>, <c>HGS_ADMIN_TOKEN</c> and the TLS variables
/// (<c>HGS_CACERT</c>, <c>HGS_CLIENT_CERT</c>, <c>HGS_CLIENT_KEY</c>), which are removed
/// so that only what a test passes in <c>environment</c> reaches the CLI. A null value removes a variable.
/// </remarks>
public static class HgsCli
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "hgs.dll");

    /// <summary>The dotnet host running these tests (the SDK publishes it as DOTNET_HOST_PATH), else dotnet on PATH.</summary>
    public static string DotnetHost { get; } = ResolveDotnet();

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(args, environment: null);

    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment,
        string? workingDirectory = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = CreateStartInfo(args, environment);
        start.WorkingDirectory = workingDirectory ?? Path.GetTempPath();
        string command = "hgs " + string.Join(' ', start.ArgumentList.Skip(1).Select(Quote));

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + command);
        // Nothing is ever read from stdin: close it so a command that waits for input fails instead of hanging.
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{command} did not finish within {(timeout ?? DefaultTimeout).TotalSeconds} s.\n--- stdout\n{await stdout}\n--- stderr\n{await stderr}");
        }

        return new CliResult(command, process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The start info for <c>dotnet hgs.dll ARGS</c>, with output redirected and the environment applied.</summary>
    internal static ProcessStartInfo CreateStartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment)
    {
        if (!File.Exists(DllPath))
        {
            throw new FileNotFoundException("hgs.dll is not in the test output folder; does the test project still reference OpenHgs.Cli?", DllPath);
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

        foreach (string inherited in new[] { "HGS_URL", "HGS_ADMIN_TOKEN", "HGS_ADMIN_TOKEN_FILE", "HGS_CLIENT_STATE", "HGS_CACERT", "HGS_CLIENT_CERT", "HGS_CLIENT_KEY" })
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

    private static string Quote(string arg) => arg.Length == 0 || arg.Any(char.IsWhiteSpace) ? $"'{arg}'" : arg;

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
