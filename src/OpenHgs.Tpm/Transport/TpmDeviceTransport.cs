namespace OpenHgs.Tpm.Transport;

/// <summary>
/// A Linux TPM character device: <c>/dev/tpmrm0</c> (kernel resource manager; preferred) or <c>/dev/tpm0</c>.
/// Each write is one command; each read returns one whole response.
/// </summary>
public sealed class TpmDeviceTransport : ITpmTransport
{
    private readonly FileStream _device;

    /// <summary>Opens the device read/write.</summary>
    public TpmDeviceTransport(string path = "/dev/tpmrm0")
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            _device = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TpmTransportException(TpmTransportError.ConnectFailed, $"cannot open {path}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public byte[] Execute(ReadOnlySpan<byte> command)
    {
        try
        {
            _device.Write(command);
            _device.Flush();
            var buffer = new byte[TpmResponseFraming.MaxResponseSize];
            var n = _device.Read(buffer);
            if (n < TpmResponseFraming.HeaderSize)
            {
                throw new TpmTransportException(TpmTransportError.MalformedResponse, $"device returned {n} bytes");
            }
            var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(2));
            if (size != n)
            {
                throw new TpmTransportException(TpmTransportError.MalformedResponse, $"response declares {size} bytes, device returned {n}");
            }
            return buffer[..n];
        }
        catch (IOException e) when (e is not TpmTransportException)
        {
            throw new TpmTransportException(TpmTransportError.ConnectionClosed, e.Message, e);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _device.Dispose();
}
