using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace OpenHgs.Testing;

/// <summary>
/// A real PostgreSQL server for the tests of one process, started from Debian's binaries in a temporary
/// folder on a free loopback port (as the <c>postgres</c> user when running as root, since PostgreSQL refuses
/// root), stopped when the process exits. <see cref="CreateDatabase"/> gives each test class its own database.
/// A server whose test process was killed before its exit handler ran is stopped by the next test process
/// (its folder carries the owner's pid, <see cref="ProcessOwnedDirectory"/>).
/// Fails (never skips) when PostgreSQL is not installed: run ./test.sh, which installs it.
/// </summary>
public sealed class PostgresServer
{
    private const string DirectoryPrefix = "openhgs-pg-";
    private static readonly Lazy<PostgresServer> Shared = new(StartNew, LazyThreadSafetyMode.ExecutionAndPublication);

    private PostgresServer(string root, int port, string binDirectory, string? runAs)
    {
        Root = root;
        Port = port;
        BinDirectory = binDirectory;
        RunAs = runAs;
    }

    /// <summary>The server shared by the tests of this process.</summary>
    public static PostgresServer Instance => Shared.Value;

    public string Root { get; }

    public int Port { get; }

    public string BinDirectory { get; }

    private string? RunAs { get; }

    public string DataDirectory => Path.Combine(Root, "data");

    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false;Timeout=5";

    /// <summary>Creates an empty database and returns its connection string.</summary>
    /// <param name="icuLocale">
    /// A collation to create the database with (ICU, e.g. <c>en-US</c>), as an operator's <c>CREATE DATABASE</c> on a
    /// cluster initialised in their language gets one: text then does not sort by code point. Null: the cluster's (C).
    /// </param>
    public string CreateDatabase(string prefix = "openhgs", string? icuLocale = null)
    {
        string name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)];
        using var connection = new NpgsqlConnection(AdminConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = icuLocale is null
            ? $"CREATE DATABASE \"{name}\""
            : $"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icuLocale}'";
        command.ExecuteNonQuery();
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name}";
    }

    /// <summary>
    /// Creates a database, restores a plain SQL dump (<c>pg_dump --no-owner --no-privileges</c>) into it with this
    /// server's <c>psql</c>, stopping at the first error, and returns its connection string. <c>psql</c> runs as this
    /// process's user (it connects as <c>postgres</c> over TCP), so the dump need only be readable by the tests.
    /// </summary>
    public string CreateDatabaseFromDump(string prefix, string plainSqlDump)
    {
        string connectionString = CreateDatabase(prefix);
        string name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        Run(Path.Combine(BinDirectory, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", name, "-f", plainSqlDump], null);
        return connectionString;
    }

    /// <summary>Stops the server (fast shutdown), as an outage would.</summary>
    public void Stop() => PgCtl("stop", "-m", "fast", "-w");

    /// <summary>Starts it again after <see cref="Stop"/>.</summary>
    public void Restart() => PgCtl("start", "-w", "-l", Path.Combine(Root, "server.log"), "-o", $"-p {Port} -k {Root} -c listen_addresses=127.0.0.1");

    /// <summary>A server of its own, for a test that stops and restarts it (the shared one serves other classes in parallel).</summary>
    public static PostgresServer StartNew()
    {
        string bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d, StringComparer.Ordinal).Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb"))) ?? string.Empty
            : string.Empty;
        if (bin.Length == 0)
        {
            throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run ./test.sh, which installs it.");
        }

        string? runAs = Environment.UserName == "root" ? "postgres" : null;
        ProcessOwnedDirectory.SweepOrphans(DirectoryPrefix, leftover => StopLeftover(leftover, bin, runAs));
        string root = ProcessOwnedDirectory.Create(DirectoryPrefix);
        if (runAs is not null)
        {
            Run("chown", ["-R", runAs, root], null);
        }

        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var server = new PostgresServer(root, port, bin, runAs);
        Run(Path.Combine(bin, "initdb"), ["-D", server.DataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"], runAs);
        File.AppendAllText(Path.Combine(server.DataDirectory, "postgresql.conf"), "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n");
        server.Restart();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAndDeleteDetached(root, bin, runAs);
        return server;
    }

    /// <summary>
    /// Immediate shutdown (no checkpoint: the data is throwaway) of the server running from <paramref name="root"/>, if
    /// its <c>postmaster.pid</c> is there; it takes about 0.1 s. Best effort: a later test process sweeps again.
    /// </summary>
    private static void StopLeftover(string root, string binDirectory, string? runAs)
    {
        string data = Path.Combine(root, "data");
        if (!File.Exists(Path.Combine(data, "postmaster.pid")))
        {
            return;
        }

        try
        {
            Run(Path.Combine(binDirectory, "pg_ctl"), ["-D", data, "stop", "-m", "immediate", "-w"], runAs);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
        }
    }

    /// <summary>
    /// At exit: an immediate shutdown and the folder's deletion, in a shell of their own that is not waited for. The test
    /// platform ends this process moments after its exit handlers start (measured: before even a 0.1 s <c>pg_ctl stop</c>
    /// returned), and servers outlived test runs; the shell outlives this process.
    /// </summary>
    private static void StopAndDeleteDetached(string root, string binDirectory, string? runAs)
    {
        var start = new ProcessStartInfo("sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["OPENHGS_PG_ROOT"] = root;
        string[] asUser = runAs is null ? [] : ["runuser", "-u", runAs, "--"];
        string[] stop = [Path.Combine(binDirectory, "pg_ctl"), "-D", Path.Combine(root, "data"), "stop", "-m", "immediate", "-w"];
        foreach (string argument in (string[])["-c", "exec </dev/null >/dev/null 2>&1; \"$@\"; rm -rf -- \"$OPENHGS_PG_ROOT\"", "sh", .. asUser, .. stop])
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            Process.Start(start)?.Dispose();
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Best effort at exit; the next test process sweeps the folder (ProcessOwnedDirectory).
        }
    }

    private void PgCtl(params string[] arguments) =>
        Run(Path.Combine(BinDirectory, "pg_ctl"), ["-D", DataDirectory, .. arguments], RunAs);

    private static void Run(string file, IReadOnlyList<string> arguments, string? runAs)
    {
        var start = runAs is null ? new ProcessStartInfo(file) : new ProcessStartInfo("runuser", ["-u", runAs, "--", file]);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} did not finish within 60 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result}{stdout.Result}");
        }
    }
}
