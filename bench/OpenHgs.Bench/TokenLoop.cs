using System.Diagnostics;
using OpenHgs.Crypto;

namespace OpenHgs.Bench;

/// <summary>One key store measurement: completed operations per second (wall clock), CPU ms per operation, refused operations.</summary>
public sealed record TokenLoopResult(double PerSecond, double CpuMs, long Failures);

/// <summary>
/// Calls the key store from <c>threads</c> threads in a loop for a fixed time: the one loop behind the raw key store
/// rates (<see cref="HsmBench"/>) and the token ceilings (<see cref="TokenCeilingBench"/>), so both count alike.
/// </summary>
public static class TokenLoop
{
    public static TokenLoopResult Run(int threads, TimeSpan duration, Action operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        // One warm-up call per thread opens its pooled session outside the measured window.
        for (int i = 0; i < threads; i++)
        {
            operation();
        }

        long counted = 0;
        long failed = 0;
        using var go = new ManualResetEventSlim();
        long until = 0;
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            go.Wait();
            long local = 0;
            while (Stopwatch.GetTimestamp() < Volatile.Read(ref until))
            {
                try
                {
                    operation();
                    local++;
                }
                catch (Exception ex) when (ex is KeyStoreOperationException or KeyStoreUnavailableException)
                {
                    // Counted, not fatal: the run reports how often the token refused a valid request.
                    Interlocked.Increment(ref failed);
                }
            }

            Interlocked.Add(ref counted, local);
        }) { IsBackground = true }).ToList();
        workers.ForEach(w => w.Start());
        var cpu = CpuClock.Now();
        long start = Stopwatch.GetTimestamp();
        Volatile.Write(ref until, start + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        go.Set();
        workers.ForEach(w => w.Join());
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new TokenLoopResult(counted / seconds, (CpuClock.Now() - cpu).TotalMilliseconds / Math.Max(1, counted), Interlocked.Read(ref failed));
    }
}
