using System.Net.Sockets;
using System.Text;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>A client that disconnects mid-request cannot keep its refusal out of the audit trail.</summary>
public sealed class DisconnectAuditTestsOnSqlite() : DisconnectAuditTests(DatabaseKind.Sqlite);

/// <summary>The same with the cluster database.</summary>
public sealed class DisconnectAuditTestsOnPostgres() : DisconnectAuditTests(DatabaseKind.Postgres);

public abstract class DisconnectAuditTests(DatabaseKind database) : IAsyncLifetime
{
    private ServiceHarness _service = null!;

    public async Task InitializeAsync() => _service = await ServiceHarness.StartAsync(StoreKind.Software, database);

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    [Trait("Attack", "A31")]
    public async Task Release_request_cut_short_by_a_disconnect_is_audited()
    {
        const string Refused = "SELECT COUNT(*) FROM audit_log WHERE event = 'keyprotection.release' AND outcome = 'refused' AND reason = 'RequestMalformed'";
        Assert.Equal(0, await _service.ExecuteSqlAsync(Refused));
        var url = new Uri(_service.Url);
        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync(url.Host, url.Port);
            var stream = socket.GetStream();
            // Announces a 4 KiB body, sends a few bytes of it, then closes the connection.
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST /keyprotection/v1/release HTTP/1.1\r\nHost: {url.Authority}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{{\"keyProtector\":\"AAAA"));
            await stream.FlushAsync();
            socket.Client.Shutdown(SocketShutdown.Both);
        }

        // The client is gone, so nothing answers it: wait (bounded) for the record the service writes on its own.
        for (int i = 0; i < 100 && await _service.ExecuteSqlAsync(Refused) == 0; i++)
        {
            await Task.Delay(100);
        }

        Assert.Equal(1, await _service.ExecuteSqlAsync(Refused));
    }
}
