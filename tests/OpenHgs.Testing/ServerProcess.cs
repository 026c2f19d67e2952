using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace OpenHgs.Testing;

/// <summary>What a user of <see cref="ServerProcess"/> changes; the defaults are what the end-to-end tests need.</summary>
public sealed record ServerProcessOptions
{
    /// <summary>Appended to <c>server run --data DIR --urls URL</c>.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Set in the server's environment over <see cref="HgsCommand"/>'s (a null value removes a variable).</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>
    /// How to start <c>hgs</c> with the given arguments, e.g. an installed copy rather than this build; null: this build
    /// through <see cref="HgsCommand"/> with <see cref="Environment"/> (which a custom command sets itself). The start
    /// info must redirect standard input, output and error.
    /// </summary>
    public Func<IReadOnlyList<string>, ProcessStartInfo>? Command { get; init; }

    /// <summary>
    /// Non-null: the server serves https (<see cref="Arguments"/> configure its certificate) and the readiness probe
    /// goes through a handler from here, which trusts that certificate as the fabric's clients do.
    /// </summary>
    public Func<HttpMessageHandler>? HttpsProbeHandler { get; init; }

    /// <summary>Polled until it answers 2xx. Live means listening; <c>healthz/ready</c> also waits for the database and key store.</summary>
    public string ReadinessPath { get; init; } = "healthz/live";

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many of the latest output lines <see cref="ServerProcess.Output"/> keeps; null keeps all (tests search the whole log).</summary>
    public int? KeptOutputLines { get; init; }

    /// <summary>The server's current folder; null: the data folder.</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>
/// <c>hgs server run --data DIR --urls http://127.0.0.1:PORT</c> (or https) as a child process on a free loopback port,
/// started and considered up once <see cref="ServerProcessOptions.ReadinessPath"/> answers, with its output collected
/// and its memory and CPU time read from /proc. Stopped with SIGTERM (a graceful shutdown, as an operator's Ctrl+C),
/// killed if it does not exit; disposing stops it. The one way the end-to-end tests and the bench run the service.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly ServerProcessOptions _options;

    private ServerProcess(Process process, string dataDirectory, int port, ServerProcessOptions options)
    {
        _process = process;
        _options = options;
        DataDirectory = dataDirectory;
        Port = port;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public int Pid => _process.Id;

    public string Url => $"{(_options.HttpsProbeHandler is null ? "http" : "https")}://127.0.0.1:{Port}";

    public bool HasExited => _process.HasExited;

    /// <summary>What the server printed so far (stdout and stderr interleaved, one line per line), for assertions and failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Concat(_output.Select(line => line + "\n"));
            }
        }
    }

    /// <summary>Waits until the server has printed a line matching <paramref name="pattern"/> (a regular expression) and returns that line.</summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>; the message holds the output.</exception>
    public async Task<string> WaitForOutputAsync(string pattern, TimeSpan timeout)
    {
        var regex = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1));
        var waited = Stopwatch.StartNew();
        while (true)
        {
            string? line;
            lock (_output)
            {
                line = _output.FirstOrDefault(regex.IsMatch);
            }

            if (line is not null)
            {
                return line;
            }

            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"The server printed no line matching '{pattern}' in {timeout.TotalSeconds} s:\n{Output}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>Peak resident set size so far (VmHWM), in MiB.</summary>
    public double PeakRssMb => ReadStatusNumber("VmHWM") / 1024.0;

    /// <summary>Current resident set size (VmRSS), in MiB.</summary>
    public double RssMb => ReadStatusNumber("VmRSS") / 1024.0;

    /// <summary>Threads of the server process now (the thread pool grows under load and retires workers idle for 20 s).</summary>
    public int ThreadCount => (int)ReadStatusNumber("Threads");

    /// <summary>User + system CPU time the server has used so far.</summary>
    public TimeSpan CpuTime => ProcessStat.TryRead(Pid)?.CpuTime ?? throw new InvalidOperationException($"process {Pid} has exited");

    /// <summary>Starts the server on a free port (retrying on another port if the chosen one was taken meanwhile).</summary>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, ServerProcessOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        options ??= new ServerProcessOptions();
        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var server = Launch(dataDirectory, FreePort(), options);
            try
            {
                await server.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
                return server;
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                last = ex;
                await server.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        throw last!;
    }

    /// <summary>
    /// A loopback port nothing listens on right now, never handed out before by this process (<see cref="LoopbackPorts"/>,
    /// below the kernel's ephemeral range). A port the kernel picked for listener 0 could be picked again for a server
    /// of a test running in parallel: readiness is an HTTP probe, so the server that then failed to bind looked ready
    /// while the other test's server answered, and a request with this fabric's admin token was refused
    /// (<c>AdminCredentialRequired</c>, seen once on 7 Dec 2026).
    /// </summary>
    public static int FreePort() => LoopbackPorts.FreePair();

    /// <summary>Asks the server to shut down (SIGTERM) and waits; kills it if it does not exit in time. Returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
            using var wait = new CancellationTokenSource(StopTimeout);
            try
            {
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        // Also lets the asynchronous output readers drain.
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>Kills the server outright (SIGKILL), as a crashed node: no graceful shutdown, in-flight requests are lost.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static ServerProcess Launch(string dataDirectory, int port, ServerProcessOptions options)
    {
        string url = $"{(options.HttpsProbeHandler is null ? "http" : "https")}://127.0.0.1:{port}";
        string[] arguments = ["server", "run", "--data", dataDirectory, "--urls", url, .. options.Arguments];
        var start = options.Command is { } command ? command(arguments) : HgsCommand.CreateStartInfo(arguments, options.Environment);
        start.WorkingDirectory = options.WorkingDirectory ?? dataDirectory;
        var process = new Process { StartInfo = start };
        var server = new ServerProcess(process, dataDirectory, port, options);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start hgs server run");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            // A null limit never compares greater: everything is kept.
            while (_output.Count > _options.KeptOutputLines)
            {
                _output.Dequeue();
            }
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var probe = new Uri($"{Url}/{_options.ReadinessPath}");
        using var http = new HttpClient(_options.HttpsProbeHandler?.Invoke() ?? new SocketsHttpHandler()) { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + _options.StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                throw new InvalidOperationException($"hgs server run exited with code {_process.ExitCode} before /{_options.ReadinessPath} answered:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync(probe, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Busy machine: try again until the deadline.
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"hgs server run did not answer /{_options.ReadinessPath} within {_options.StartTimeout.TotalSeconds} s:\n{Output}");
    }

    /// <summary>A number field of /proc/PID/status (memory fields are in kB).</summary>
    private long ReadStatusNumber(string field)
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    [LibraryImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
