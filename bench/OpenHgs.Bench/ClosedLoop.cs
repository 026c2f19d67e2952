using System.Diagnostics;

namespace OpenHgs.Bench;

/// <summary>
/// A closed-loop load generator: <c>concurrency</c> workers each run the operation back to back. Operations that
/// start and end inside the measured window (after the warm-up) count; the run is bounded in time and count.
/// </summary>
public static class ClosedLoop
{
    public static async Task<LoadResult> RunAsync(
        int concurrency, TimeSpan warmup, TimeSpan duration, long maxOperations, Func<int, CancellationToken, Task> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        long start = Stopwatch.GetTimestamp();
        long measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        long measureUntil = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var abort = new CancellationTokenSource(warmup + duration + TimeSpan.FromSeconds(30));
        long started = 0;
        long failures = 0;
        long completed = 0;
        string? firstFailure = null;
        var perWorker = new List<double>[concurrency];

        async Task Worker(int worker)
        {
            var latencies = perWorker[worker] = new List<double>(4096);
            while (!abort.IsCancellationRequested && Interlocked.Increment(ref started) <= maxOperations)
            {
                long before = Stopwatch.GetTimestamp();
                if (before >= measureUntil)
                {
                    return;
                }

                try
                {
                    await operation(worker, abort.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstFailure, ex.GetType().Name + ": " + ex.Message, null);
                    continue;
                }

                Interlocked.Increment(ref completed);
                long after = Stopwatch.GetTimestamp();
                if (before >= measureFrom && after <= measureUntil)
                {
                    latencies.Add(Stopwatch.GetElapsedTime(before, after).TotalMilliseconds);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(w => Task.Run(() => Worker(w)))).ConfigureAwait(false);
        long end = Math.Min(Stopwatch.GetTimestamp(), measureUntil);
        double seconds = Math.Max(0, Stopwatch.GetElapsedTime(measureFrom, end).TotalSeconds);
        var all = perWorker.Where(l => l is not null).SelectMany(l => l).ToList();
        return LoadResult.From(concurrency, all, Interlocked.Read(ref completed), failures, seconds, firstFailure);
    }

    /// <summary>Runs the operation <paramref name="count"/> times one after another (after <paramref name="warmup"/> unmeasured runs).</summary>
    public static async Task<LoadResult> SequentialAsync(int warmup, int count, Func<CancellationToken, Task> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        using var abort = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        for (int i = 0; i < warmup; i++)
        {
            await operation(abort.Token).ConfigureAwait(false);
        }

        var latencies = new List<double>(count);
        long first = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            long before = Stopwatch.GetTimestamp();
            await operation(abort.Token).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetElapsedTime(before).TotalMilliseconds);
        }

        return LoadResult.From(1, latencies, count, 0, Stopwatch.GetElapsedTime(first).TotalSeconds, null);
    }

    /// <summary>
    /// Runs <paramref name="a"/> and <paramref name="b"/> one after another, <paramref name="count"/> times each (after
    /// <paramref name="warmup"/> unmeasured runs of each), in the order A B B A A B …, so that whatever the machine does
    /// meanwhile falls on both alike.
    /// </summary>
    public static async Task<(LoadResult A, LoadResult B)> AlternatingAsync(int warmup, int count, Func<CancellationToken, Task> a, Func<CancellationToken, Task> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        using var abort = new CancellationTokenSource(TimeSpan.FromSeconds(240));
        for (int i = 0; i < warmup; i++)
        {
            await a(abort.Token).ConfigureAwait(false);
            await b(abort.Token).ConfigureAwait(false);
        }

        var latenciesA = new List<double>(count);
        var latenciesB = new List<double>(count);
        long first = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            // A B, B A, A B, …: neither is always the one that runs right after the other.
            var order = i % 2 == 0 ? new[] { (a, latenciesA), (b, latenciesB) } : [(b, latenciesB), (a, latenciesA)];
            foreach (var (operation, latencies) in order)
            {
                long before = Stopwatch.GetTimestamp();
                await operation(abort.Token).ConfigureAwait(false);
                latencies.Add(Stopwatch.GetElapsedTime(before).TotalMilliseconds);
            }
        }

        double seconds = Stopwatch.GetElapsedTime(first).TotalSeconds;
        return (LoadResult.From(1, latenciesA, count, 0, seconds, null), LoadResult.From(1, latenciesB, count, 0, seconds, null));
    }
}
