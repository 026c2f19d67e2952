using System.Net;
using System.Net.Sockets;
using System.Text;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Strings the CLI did not write itself (a service's problem detail, a TPM root's subject) reach the operator's terminal
/// inert (design change 83): a hostile or impersonated service, or a crafted certificate, must not drive the terminal
/// with escape sequences (rewrite the screen, set the clipboard) nor forge extra output lines.
/// </summary>
public sealed class TerminalEscapeCliTests
{
    // OSC 52 (set the clipboard), erase line + carriage return + a forged verdict, then a second, forged line.
    private const string Hostile = "\u001b]52;c;Y3VybCBldmlsfHNo\u0007\u001b[2K\rRegistered.\u009b31m\nerror: none";

    [Fact]
    [Trait("Attack", "A150")]
    public async Task A_services_problem_detail_with_escape_sequences_prints_as_one_inert_error_line()
    {
        string body = "{\"code\":\"AdminCredentialRequired\",\"detail\":" + System.Text.Json.JsonSerializer.Serialize(Hostile) + "}";
        await using var service = HostileService.Start(_ => (401, "application/problem+json", body));

        var result = await HgsCli.RunAsync(["keys", "list", "--url", service.Url, "--token", "hgsadm_test"], new Dictionary<string, string?>());

        string line = result.FailedWithOneErrorLine(1);
        AssertInert(result.StdErr);
        Assert.StartsWith("error: AdminCredentialRequired: \\u001b]52;c;", line, StringComparison.Ordinal);

        // With --json the same failure is also a JSON object on stdout: escaped there by JSON itself.
        var json = await HgsCli.RunAsync(["keys", "list", "--url", service.Url, "--token", "hgsadm_test", "--json"], new Dictionary<string, string?>());
        json.FailedWithOneErrorLine(1);
        AssertInert(json.StdOut);
        Assert.Equal(Hostile, (string?)json.Json()["error"]!["message"]);
    }

    [Fact]
    [Trait("Attack", "A150")]
    public async Task A_tpm_root_subject_with_escape_sequences_prints_inert_in_the_listing()
    {
        string roots = "[{\"thumbprint\":\"" + new string('a', 64) + "\",\"subject\":" + System.Text.Json.JsonSerializer.Serialize("CN=" + Hostile)
            + ",\"addedAt\":\"2026-01-01T00:00:00Z\"}]";
        await using var service = HostileService.Start(path => (200, "application/json", path.Contains("tpm-roots", StringComparison.Ordinal) ? roots : "[]"));

        var result = (await HgsCli.RunAsync(["tpm-roots", "list", "--url", service.Url, "--token", "hgsadm_test"], new Dictionary<string, string?>())).Succeeded();

        AssertInert(result.StdOut);
        Assert.Single(result.StdOut.TrimEnd('\n').Split('\n'));
        Assert.Contains("CN=\\u001b]52;c;", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A150")]
    public async Task An_event_logs_variable_name_with_escape_sequences_prints_inert_in_eventlog_show()
    {
        // A guarded host's event log is the host's to write: a UEFI variable named with escape sequences.
        using var root = new TempFolder("openhgs-terminal-");
        string path = root["hostile.bin"];
        byte[] variable = OpenHgs.Tpm.Tests.Support.EventLogBuilder.Variable(Guid.NewGuid(), "SecureBoot" + Hostile, [1]);
        await File.WriteAllBytesAsync(path, OpenHgs.Tpm.Tests.Support.EventLogBuilder.Agile(OpenHgs.Tpm.TpmAlgorithm.Sha256)
            .Add(7, 0x80000001, variable).AddSeparators(0, 7).Build());

        var result = (await HgsCli.RunAsync("eventlog", "show", path)).Succeeded();

        Assert.DoesNotContain(result.StdOut, c => char.IsControl(c) && c != '\n');
        Assert.Contains("SecureBoot\\u001b]52;c;", result.StdOut, StringComparison.Ordinal);
    }

    private static void AssertInert(string printed) =>
        Assert.DoesNotContain(printed.TrimEnd('\n'), c => char.IsControl(c) && c != '\n');

    /// <summary>Stands for a hostile service on loopback: answers every request with what <c>answer</c> gives for its path.</summary>
    private sealed class HostileService : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Func<string, (int Status, string Type, string Body)> _answer;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private HostileService(Func<string, (int Status, string Type, string Body)> answer)
        {
            _answer = answer;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _loop = ServeAsync();
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public static HostileService Start(Func<string, (int Status, string Type, string Body)> answer) => new(answer);

        private async Task ServeAsync()
        {
            try
            {
                while (true)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    var stream = client.GetStream();
                    var head = new StringBuilder();
                    var buffer = new byte[4096];
                    while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        int read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            break;
                        }

                        head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    }

                    string path = head.ToString().Split(' ') is [_, var p, ..] ? p : "/";
                    var (status, type, body) = _answer(path);
                    byte[] content = Encoding.UTF8.GetBytes(body);
                    string response = $"HTTP/1.1 {status} X\r\nContent-Type: {type}\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
                    await stream.WriteAsync(content, _stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // Stopped by the test.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }
}
