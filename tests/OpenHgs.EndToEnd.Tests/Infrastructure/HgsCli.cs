using System.Diagnostics;
using System.Text.Json.Nodes;
using OpenHgs.Testing;

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

/// <summary>Runs the real CLI to completion (<see cref="HgsCommand"/>: <c>dotnet hgs.dll ARGS</c>, with its environment rules) and captures what it printed.</summary>
public static class HgsCli
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(args, environment: null);

    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment,
        string? workingDirectory = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = HgsCommand.CreateStartInfo(args, environment);
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

    private static string Quote(string arg) => arg.Length == 0 || arg.Any(char.IsWhiteSpace) ? $"'{arg}'" : arg;
}
