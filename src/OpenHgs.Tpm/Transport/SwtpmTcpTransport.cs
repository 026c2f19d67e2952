using System.Net.Sockets;

namespace OpenHgs.Tpm.Transport;

/// <summary>
/// swtpm's TCP data channel (<c>swtpm socket --tpm2 --server type=tcp,port=P</c>). Verified by experiment with
/// swtpm 0.7: the channel carries raw TPM 2.0 command and response bytes, with no mssim-style framing. swtpm
/// must be started with <c>--flags not-need-init,startup-clear</c> (or initialised via its control channel).
/// There is no resource manager: the caller must flush every transient object and session it creates.
/// </summary>
public sealed class SwtpmTcpTransport : ITpmTransport
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    /// <summary>Connects to swtpm at <paramref name="host"/>:<paramref name="port"/>.</summary>
    public SwtpmTcpTransport(string host, int port, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var ms = (int)(timeout ?? TimeSpan.FromSeconds(30)).TotalMilliseconds;
        _client = new TcpClient { NoDelay = true, ReceiveTimeout = ms, SendTimeout = ms };
        try
        {
            if (!_client.ConnectAsync(host, port).Wait(ms))
            {
                throw new TpmTransportException(TpmTransportError.Timeout, $"connecting to swtpm at {host}:{port} timed out");
            }
        }
        catch (Exception e)
        {
            _client.Dispose();
            if (e is TpmTransportException)
            {
                throw;
            }
            var inner = e is AggregateException { InnerException: { } i } ? i : e;
            throw new TpmTransportException(TpmTransportError.ConnectFailed, $"cannot connect to swtpm at {host}:{port}: {inner.Message}", inner);
        }
        _stream = _client.GetStream();
    }

    /// <inheritdoc />
    public byte[] Execute(ReadOnlySpan<byte> command)
    {
        try
        {
            _stream.Write(command);
            return TpmResponseFraming.ReadResponse(_stream);
        }
        catch (IOException e) when (e is not TpmTransportException)
        {
            var timeout = e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut };
            throw new TpmTransportException(timeout ? TpmTransportError.Timeout : TpmTransportError.ConnectionClosed, e.Message, e);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stream.Dispose();
        _client.Dispose();
    }
}
