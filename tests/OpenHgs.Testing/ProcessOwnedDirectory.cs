using System.Diagnostics;

namespace OpenHgs.Testing;

/// <summary>
/// Temporary folders named after the test process that owns them (<c>{prefix}{pid}-{random}</c>), so that a later test
/// process can clean up after one that was killed before its exit handlers ran (vstest may end its test host early).
/// </summary>
public static class ProcessOwnedDirectory
{
    /// <summary>Creates <c>{temp}/{prefix}{this pid}-{random}</c> and returns its path.</summary>
    public static string Create(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        string path = Path.Combine(Path.GetTempPath(), $"{prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>
    /// For every <paramref name="prefix"/> folder whose owning process is gone: runs <paramref name="release"/> on it
    /// (e.g. stop a server that still runs from it), then deletes it. Folders of running processes are left alone.
    /// </summary>
    public static void SweepOrphans(string prefix, Action<string>? release = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        foreach (string directory in Directory.EnumerateDirectories(Path.GetTempPath(), prefix + "*"))
        {
            string name = Path.GetFileName(directory)[prefix.Length..];
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(name[..dash], out int pid) && !IsRunning(pid))
            {
                release?.Invoke(directory);
                TryDelete(directory);
            }
        }
    }

    /// <summary>Whether a process with this id runs (a reused id counts as running: the folder then waits for a later sweep).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Deletes the folder and everything in it, best effort (it is under the temp folder anyway).</summary>
    public static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
