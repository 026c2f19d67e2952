using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Packaging;

/// <summary>
/// <c>hgs server run</c> as systemd runs a <c>Type=notify</c> unit: its parent process is named <c>systemd</c> and
/// <c>NOTIFY_SOCKET</c> names a unix datagram socket. The test plays systemd's part: it listens on that socket and
/// expects <c>READY=1</c> once the service answers, <c>STOPPING=1</c> on SIGTERM, and journald-style log lines
/// (a <c>&lt;N&gt;</c> priority prefix). The parent is a shell started through a link named <c>systemd</c>, which is what
/// Microsoft.Extensions.Hosting.Systemd looks at (<c>/proc/PPID/comm</c>).
/// </summary>
public sealed partial class SystemdNotifyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task ServerRunUnderSystemdNotifiesReadyAndStoppingAndLogsWithPriorities()
    {
        using var temp = new TempFolder();
        string data = Path.Combine(temp.Path, "data");
        (await HgsCli.RunAsync("server", "init", "--data", data, "--software")).Succeeded();

        // Short path: sun_path holds 108 bytes.
        string socketPath = Path.Combine("/tmp", $"hgs-notify-{Guid.NewGuid():N}"[..24]);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        try
        {
            string systemd = Path.Combine(temp.Path, "systemd");
            File.CreateSymbolicLink(systemd, "/bin/sh");
            int port = ServerProcess.FreePort();
            var hgs = HgsCommand.CreateStartInfo(["server", "run", "--data", data, "--urls", $"http://127.0.0.1:{port}"], new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = socketPath });

            // The shell (comm "systemd") starts hgs as its child, prints the child's pid and waits for it.
            var start = new ProcessStartInfo(systemd) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("\"$@\" & echo $!; wait $!");
            start.ArgumentList.Add("systemd");
            start.ArgumentList.Add(hgs.FileName);
            foreach (string argument in hgs.ArgumentList)
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var (name, value) in hgs.Environment)
            {
                start.Environment[name] = value;
            }

            using var shell = Process.Start(start)!;
            shell.StandardInput.Close();
            int serverPid = int.Parse((await shell.StandardOutput.ReadLineAsync())!, System.Globalization.CultureInfo.InvariantCulture);
            var logs = shell.StandardOutput.ReadToEndAsync();
            try
            {
                string ready = await ReceiveAsync(socket, "READY=1");
                Assert.Contains("READY=1", ready, StringComparison.Ordinal);

                // Ready means serving: the health endpoint answers at once.
                using (var http = new HttpClient())
                {
                    using var live = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz/live"));
                    Assert.True(live.IsSuccessStatusCode, $"healthz/live answered {(int)live.StatusCode} after READY=1");
                }

                Assert.Equal(0, Kill(serverPid, 15));
                string stopping = await ReceiveAsync(socket, "STOPPING=1");
                Assert.Contains("STOPPING=1", stopping, StringComparison.Ordinal);
                await shell.WaitForExitAsync().WaitAsync(Patience);
                Assert.Equal(0, shell.ExitCode);

                // journald format: every log line starts with a syslog priority, no console colours or timestamps.
                string[] lines = (await logs).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.NotEmpty(lines);
                Assert.All(lines, line => Assert.Matches(@"^<[0-7]>", line));
            }
            finally
            {
                if (!shell.HasExited)
                {
                    _ = Kill(serverPid, 9);
                    shell.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            File.Delete(socketPath);
        }
    }

    /// <summary>Datagrams until one contains <paramref name="expected"/>; fails after <see cref="Patience"/>.</summary>
    private static async Task<string> ReceiveAsync(Socket socket, string expected)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var buffer = new byte[4096];
        var seen = new StringBuilder();
        try
        {
            while (true)
            {
                int received = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                string message = Encoding.UTF8.GetString(buffer, 0, received);
                seen.Append(message).Append(" | ");
                if (message.Contains(expected, StringComparison.Ordinal))
                {
                    return message;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"no {expected} on NOTIFY_SOCKET within {Patience}; received: {seen}");
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
