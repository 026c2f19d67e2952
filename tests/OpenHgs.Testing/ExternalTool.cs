using System.Diagnostics;

namespace OpenHgs.Testing;

/// <summary>Runs command-line tools for fixtures, keeping secrets out of failure messages.</summary>
internal static class ExternalTool
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The full path of <paramref name="name"/> on PATH, or null.</summary>
    public static string? Locate(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/usr/local/bin")
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs the tool and returns its standard output; a non-zero exit throws with stderr, secrets masked.</summary>
    public static string Run(string path, IEnumerable<string> arguments, IReadOnlyCollection<string> secrets)
    {
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Explicit, although the child would inherit it: the tool must see the tokens this process sees.
        start.Environment[SoftHsmEnvironment.ConfigurationVariable] = SoftHsmEnvironment.ConfigurationFile;

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {path}.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Describe(path, start.ArgumentList, secrets)} did not finish within {Timeout.TotalSeconds} s.");
        }

        string output = stdout.GetAwaiter().GetResult();
        string errors = stderr.GetAwaiter().GetResult();
        return process.ExitCode == 0
            ? output
            : throw new InvalidOperationException(
                $"{Describe(path, start.ArgumentList, secrets)} failed with exit code {process.ExitCode}: {Mask(errors + output, secrets).Trim()}");
    }

    private static string Describe(string path, IEnumerable<string> arguments, IReadOnlyCollection<string> secrets) =>
        Mask($"{Path.GetFileName(path)} {string.Join(' ', arguments)}", secrets);

    private static string Mask(string text, IReadOnlyCollection<string> secrets) =>
        secrets.Where(s => s.Length > 0).Aggregate(text, (current, secret) => current.Replace(secret, "***", StringComparison.Ordinal));
}
