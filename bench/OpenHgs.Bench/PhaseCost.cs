using System.Diagnostics;

namespace OpenHgs.Bench;

/// <summary>CPU the service and the load generator spent during one load phase, per completed operation.</summary>
public sealed record PhaseCost(double ServerCpuMsPerOp, double ClientCpuMsPerOp, double ServerCoresBusy)
{
    /// <summary>Runs <paramref name="phase"/> and charges the CPU both processes used to its completed operations.</summary>
    public static async Task<(LoadResult Result, PhaseCost Cost)> MeasureAsync(ServiceProcess service, Func<Task<LoadResult>> phase)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(phase);
        using var self = Process.GetCurrentProcess();
        TimeSpan server = service.CpuTime, client = self.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        var result = await phase().ConfigureAwait(false);
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        self.Refresh();
        double serverMs = (service.CpuTime - server).TotalMilliseconds, clientMs = (self.TotalProcessorTime - client).TotalMilliseconds;
        long ops = Math.Max(1, result.Completed);
        return (result, new PhaseCost(serverMs / ops, clientMs / ops, serverMs / 1000 / wall));
    }
}
