using System.Text.Json.Nodes;

namespace OpenHgs.Bench;

/// <summary>
/// <c>./bench/run.sh</c>: progress and explanations on stderr, one JSON object as the last line of stdout.
/// Exit 0 on success, 1 when the run failed (the JSON then carries "error"), 2 on bad arguments.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync("error: " + ex.Message).ConfigureAwait(false);
            return 2;
        }

        var progress = new Progress(Console.Error);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        JsonObject json;
        int exit = 0;
        try
        {
            json = await new BenchRun(options, progress).RunAsync(cancel.Token).ConfigureAwait(false);
            Targets.Add(json, progress);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            progress.Step("FAILED: " + ex);
            json = new JsonObject { ["error"] = ex.GetType().Name + ": " + ex.Message };
            exit = 1;
        }

        json["quick"] = options.Quick;
        json["duration_s"] = BenchRun.Round(progress.Elapsed.TotalSeconds);
        progress.Step($"done in {progress.Elapsed.TotalSeconds:F0} s");
        await Console.Out.WriteLineAsync(json.ToJsonString()).ConfigureAwait(false);
        return exit;
    }
}
