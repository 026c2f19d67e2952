using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace OpenHgs.Bench;

/// <summary>
/// The service under test: <c>dotnet hgs.dll server run --data DIR --urls http://127.0.0.1:PORT</c> as a child
/// process (hgs.dll is copied beside the bench), with its memory (VmHWM) and CPU time read from /proc.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 200;
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private ServiceProcess(Process process, int port, int metricsPort)
    {
        _process = process;
        Port = port;
        MetricsPort = metricsPort;
    }

    public int Port { get; }

    /// <summary>The service's Prometheus scrape listener (<c>--metrics http://127.0.0.1:PORT</c>; <see cref="ServiceCounters"/>).</summary>
    public int MetricsPort { get; }

    public int Pid => _process.Id;

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>Peak resident set size so far (VmHWM), in MiB.</summary>
    public double PeakRssMb => ReadStatusKb("VmHWM") / 1024.0;

    /// <summary>Current resident set size (VmRSS), in MiB.</summary>
    public double RssMb => ReadStatusKb("VmRSS") / 1024.0;

    /// <summary>User + system CPU time the service has used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            string stat = File.ReadAllText($"/proc/{Pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
            long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0);
        }
    }

    public string RecentOutput
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public static async Task<ServiceProcess> StartAsync(string dataDirectory, CancellationToken cancellationToken)
    {
        string hgs = Path.Combine(AppContext.BaseDirectory, "hgs.dll");
        if (!File.Exists(hgs))
        {
            throw new FileNotFoundException("hgs.dll is not beside the bench; build bench/OpenHgs.Bench (it references OpenHgs.Cli).", hgs);
        }

        int port = FreePort(), metricsPort;
        do
        {
            metricsPort = FreePort();
        }
        while (metricsPort == port);
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        // --rate-limit off: the bench drives hundreds of requests a second from one address, past the default limit.
        // --metrics on a loopback listener: the bench reads the key store operations requests really cost.
        foreach (string arg in new[] { hgs, "server", "run", "--data", dataDirectory, "--urls", $"http://127.0.0.1:{port}", "--rate-limit", "off", "--metrics", $"http://127.0.0.1:{metricsPort}" })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        // The HTTP floor endpoint (bench/README.md, "Ceilings"): off unless set, and refused in --production.
        start.Environment[OpenHgs.Server.Endpoints.BenchFloorEndpoints.Variable] = "1";
        var process = new Process { StartInfo = start };
        var service = new ServiceProcess(process, port, metricsPort);
        process.OutputDataReceived += (_, e) => service.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => service.Keep(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start hgs server run");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await service.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
            return service;
        }
        catch
        {
            await service.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false }))
            {
                if (term is not null)
                {
                    await term.WaitForExitAsync().ConfigureAwait(false);
                }
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
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
            while (_output.Count > KeptOutputLines)
            {
                _output.Dequeue();
            }
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"hgs server run exited with code {_process.ExitCode} before it was ready:\n{RecentOutput}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("healthz/ready", UriKind.Relative), cancellationToken).ConfigureAwait(false);
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
                // Busy machine: retry until the deadline.
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"hgs server run was not ready within 90 s:\n{RecentOutput}");
    }

    private long ReadStatusKb(string field)
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

    private static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
