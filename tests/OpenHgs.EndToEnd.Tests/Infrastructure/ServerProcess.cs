using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// <c>hgs server run --data DIR --urls http://127.0.0.1:PORT</c> as a child process on a free loopback port,
/// started and considered up once <c>/healthz/live</c> answers. Stopped with SIGTERM (a graceful shutdown, as an
/// operator's Ctrl+C), killed if it does not exit; disposing stops it.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly StringBuilder _output;

    private ServerProcess(Process process, StringBuilder output, string dataDirectory, int port)
    {
        _process = process;
        _output = output;
        DataDirectory = dataDirectory;
        Port = port;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the server printed so far (stdout and stderr interleaved), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the server on a free port (retrying on another port if the chosen one was taken meanwhile).</summary>
    /// <param name="dataDirectory">The initialised data folder.</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <param name="arguments">Extra <c>server run</c> options.</param>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, IReadOnlyDictionary<string, string?>? environment = null, IReadOnlyList<string>? arguments = null)
    {
        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int port = FreePort();
            var server = Launch(dataDirectory, port, environment, arguments ?? []);
            try
            {
                await server.WaitUntilLiveAsync();
                return server;
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                last = ex;
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }

        throw last!;
    }

    /// <summary>A loopback port nothing listens on right now (nothing will, unless another process races for it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Asks the server to shut down (SIGTERM) and waits; kills it if it does not exit in time. Returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
            using var wait = new CancellationTokenSource(StopTimeout);
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        // Let the asynchronous output readers drain.
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    /// <summary>Kills the server outright (SIGKILL), as a crashed node: no graceful shutdown, in-flight requests are lost.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static ServerProcess Launch(string dataDirectory, int port, IReadOnlyDictionary<string, string?>? environment, IReadOnlyList<string> arguments)
    {
        var start = HgsCli.CreateStartInfo(["server", "run", "--data", dataDirectory, "--urls", $"http://127.0.0.1:{port}", .. arguments], environment);
        start.WorkingDirectory = dataDirectory;
        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start hgs server run");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ServerProcess(process, output, dataDirectory, port);
    }

    private async Task WaitUntilLiveAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync();
                throw new InvalidOperationException($"hgs server run exited with code {_process.ExitCode} before it was live:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(Url + "/healthz/live"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Busy machine: try again until the deadline.
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"hgs server run was not live within {StartTimeout.TotalSeconds} s:\n{Output}");
    }

    [LibraryImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
