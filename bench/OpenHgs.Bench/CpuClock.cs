using System.Diagnostics;

namespace OpenHgs.Bench;

/// <summary>
/// This process's CPU time: on a busy shared machine, wall-clock time per operation mostly measures the queue
/// for a core, while CPU time per operation measures the work itself.
/// </summary>
public static class CpuClock
{
    public static TimeSpan Now()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }
}
