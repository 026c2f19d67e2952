using System.Buffers.Binary;

namespace OpenHgs.Tpm.Transport;

/// <summary>Reads one TPM response (10-byte header with its total size, then the rest) from a stream.</summary>
internal static class TpmResponseFraming
{
    /// <summary>Largest response accepted (TPM responses are at most a few KiB).</summary>
    public const int MaxResponseSize = 64 * 1024;

    public const int HeaderSize = 10;

    public static byte[] ReadResponse(Stream stream)
    {
        var header = new byte[HeaderSize];
        ReadExactly(stream, header);
        var size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(2));
        if (size < HeaderSize || size > MaxResponseSize)
        {
            throw new TpmTransportException(TpmTransportError.MalformedResponse, $"response declares {size} bytes");
        }
        var response = new byte[size];
        header.CopyTo(response, 0);
        ReadExactly(stream, response.AsSpan(HeaderSize));
        return response;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = stream.Read(buffer[done..]);
            if (n == 0)
            {
                throw new TpmTransportException(TpmTransportError.ConnectionClosed, $"channel closed after {done} of {buffer.Length} bytes");
            }
            done += n;
        }
    }
}
