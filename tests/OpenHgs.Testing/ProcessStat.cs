using System.Globalization;

namespace OpenHgs.Testing;

/// <summary>What /proc/PID/stat says of a process: its parent and the CPU (user + system) it has used.</summary>
public sealed record ProcessStat(int ParentPid, TimeSpan CpuTime)
{
    /// <summary>Null when the process is gone (it may end while it is read).</summary>
    public static ProcessStat? TryRead(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name may hold spaces, so fields are counted after its closing parenthesis: state (3) ppid (4) …
        // utime (14) stime (15), the last two in USER_HZ (100 on Linux) ticks.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return new ProcessStat(int.Parse(fields[1], CultureInfo.InvariantCulture), TimeSpan.FromSeconds(ticks / 100.0));
    }
}
