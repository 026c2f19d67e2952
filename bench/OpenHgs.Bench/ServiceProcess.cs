using OpenHgs.Testing;

namespace OpenHgs.Bench;

/// <summary>
/// The service under test: the tests' <see cref="ServerProcess"/> (<c>dotnet hgs.dll server run</c>, hgs.dll copied
/// beside the bench) with what the bench needs on top: no rate limit, the HTTP floor endpoint, and readiness meaning
/// ready (database and key store), not only listening.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private static ServerProcessOptions Options(int metricsPort) => new()
    {
        // --rate-limit off: the bench drives hundreds of requests a second from one address, past the default limit.
        // --metrics on a loopback listener: the bench reads the key store operations requests really cost (ServiceCounters).
        Arguments = ["--rate-limit", "off", "--metrics", $"http://127.0.0.1:{metricsPort}"],
        // The HTTP floor endpoint (bench/README.md, "Ceilings"): off unless set, and refused in --production.
        Environment = new Dictionary<string, string?> { [OpenHgs.Server.Endpoints.BenchFloorEndpoints.Variable] = "1" },
        ReadinessPath = "healthz/ready",
        StartTimeout = TimeSpan.FromSeconds(90),
        // Only for the message when the service fails to start: a long run's log is not kept whole.
        KeptOutputLines = 200,
    };

    private readonly ServerProcess _server;

    private ServiceProcess(ServerProcess server, int metricsPort)
    {
        _server = server;
        MetricsPort = metricsPort;
    }

    public int Port => _server.Port;

    /// <summary>The service's Prometheus scrape listener (<c>--metrics http://127.0.0.1:PORT</c>; <see cref="ServiceCounters"/>).</summary>
    public int MetricsPort { get; }

    public int Pid => _server.Pid;

    public Uri BaseAddress => new(_server.Url + "/");

    /// <summary>Peak resident set size so far (VmHWM), in MiB.</summary>
    public double PeakRssMb => _server.PeakRssMb;

    /// <summary>Current resident set size (VmRSS), in MiB.</summary>
    public double RssMb => _server.RssMb;

    /// <summary>Threads of the service process now.</summary>
    public int ThreadCount => _server.ThreadCount;

    /// <summary>User + system CPU time the service has used so far.</summary>
    public TimeSpan CpuTime => _server.CpuTime;

    public static async Task<ServiceProcess> StartAsync(string dataDirectory, CancellationToken cancellationToken)
    {
        // Below the ephemeral range, so no outgoing connection can hold it (LoopbackPorts).
        int metricsPort = LoopbackPorts.FreePair();
        return new(await ServerProcess.StartAsync(dataDirectory, Options(metricsPort), cancellationToken).ConfigureAwait(false), metricsPort);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
