using System.Diagnostics;

namespace OpenHgs.Testing;

/// <summary>
/// Another process holding a SQLite database's write lock: the <c>sqlite3</c> command-line shell inside
/// <c>BEGIN EXCLUSIVE</c>, as a backup tool or an operator's shell would. The constructor returns once the shell holds the
/// lock; <see cref="Dispose"/> commits (releasing it) and ends the shell. A missing <c>sqlite3</c> (Debian package
/// sqlite3) makes the constructor throw: the tests fail, they are never skipped (scripts/install-test-deps.sh installs it).
/// </summary>
public sealed class SqliteWriteLock : IDisposable
{
    private const string Ready = "openhgs-lock-held";
    private readonly Process _shell;

    public SqliteWriteLock(string databasePath)
    {
        ArgumentNullException.ThrowIfNull(databasePath);
        string sqlite3 = ExternalTool.Locate("sqlite3")
            ?? throw new InvalidOperationException("The lock tests need the sqlite3 shell (Debian package sqlite3), which is not installed. Run ./test.sh, which installs it.");
        var start = new ProcessStartInfo(sqlite3)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(databasePath);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _shell = new Process { StartInfo = start };
        _shell.OutputDataReceived += (_, e) =>
        {
            if (e.Data == Ready)
            {
                held.TrySetResult();
            }
        };
        _shell.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } error)
            {
                held.TrySetException(new InvalidOperationException("sqlite3 could not lock the database: " + error));
            }
        };
        _shell.Start();
        _shell.BeginOutputReadLine();
        _shell.BeginErrorReadLine();
        // Waits up to 30 s for the service's own writers, then holds the lock until Dispose.
        _shell.StandardInput.WriteLine("PRAGMA busy_timeout = 30000;");
        _shell.StandardInput.WriteLine("BEGIN EXCLUSIVE;");
        _shell.StandardInput.WriteLine($"SELECT '{Ready}';");
        _shell.StandardInput.Flush();
        if (!held.Task.Wait(TimeSpan.FromSeconds(45)))
        {
            Dispose();
            throw new InvalidOperationException("sqlite3 did not take the database's write lock within 45 s.");
        }
    }

    /// <summary>Commits the empty transaction (releasing the lock) and waits for the shell to exit; kills it if it does not.</summary>
    public void Dispose()
    {
        try
        {
            if (!_shell.HasExited)
            {
                _shell.StandardInput.WriteLine("COMMIT;");
                _shell.StandardInput.WriteLine(".quit");
                _shell.StandardInput.Flush();
            }

            if (!_shell.WaitForExit(10_000))
            {
                _shell.Kill(entireProcessTree: true);
                _shell.WaitForExit(10_000);
            }
        }
        catch (IOException)
        {
            // The shell is gone already (its stdin closed).
        }

        _shell.Dispose();
    }
}
