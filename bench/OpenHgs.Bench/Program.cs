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
            AddTargets(json);
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

    /// <summary>The targets, each with whether this run reached it.</summary>
    private static void AddTargets(JsonObject json)
    {
        double Get(string name) => json[name]?.GetValue<double>() ?? double.NaN;
        json["targets"] = new JsonObject
        {
            ["release_vs_hsm_ge_0.8"] = Get("release_vs_hsm") >= 0.8,
            ["release_p99_le_25ms"] = Get("release_p99_ms") <= 25,
            ["attest_vs_hsm_sign_ge_0.5"] = Get("attest_vs_hsm_sign") >= 0.5,
            ["scale_latency_ratio_le_1.2"] = Get("scale_latency_ratio") <= 1.2,
            ["server_peak_rss_le_300mb"] = Get("server_peak_rss_mb") <= 300,
        };
    }
}
