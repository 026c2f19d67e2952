namespace OpenHgs.Bench;

/// <summary>A closed-loop run: completed operations in the measured window, their rate and latency percentiles.</summary>
public sealed record LoadResult(
    int Concurrency,
    long Operations,
    long Completed,
    long Failures,
    double Seconds,
    double PerSecond,
    double P50Ms,
    double P99Ms,
    double MaxMs,
    string? FirstFailure)
{
    public static LoadResult From(int concurrency, List<double> latenciesMs, long completed, long failures, double seconds, string? firstFailure)
    {
        ArgumentNullException.ThrowIfNull(latenciesMs);
        latenciesMs.Sort();
        return new LoadResult(
            concurrency,
            latenciesMs.Count,
            completed,
            failures,
            seconds,
            seconds > 0 ? latenciesMs.Count / seconds : 0,
            Percentile(latenciesMs, 0.50),
            Percentile(latenciesMs, 0.99),
            latenciesMs.Count == 0 ? 0 : latenciesMs[^1],
            firstFailure);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(List<double> sorted, double fraction)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return 0;
        }

        int rank = (int)Math.Ceiling(fraction * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}
