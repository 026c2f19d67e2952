namespace OpenHgs.Tpm.Transport;

/// <summary>
/// Carries one TPM 2.0 command and returns its response (raw TPM 2.0 command/response bytes, no framing).
/// Implementations are not required to be thread-safe; <see cref="Commands.TpmClient"/> serialises calls.
/// </summary>
public interface ITpmTransport : IDisposable
{
    /// <summary>Sends a complete command and returns the complete response.</summary>
    /// <exception cref="TpmTransportException">The channel failed, timed out or returned a malformed frame.</exception>
    byte[] Execute(ReadOnlySpan<byte> command);
}

/// <summary>Why talking to the TPM failed.</summary>
public enum TpmTransportError
{
    /// <summary>Connecting or opening the device failed.</summary>
    ConnectFailed,
    /// <summary>The TPM did not answer within the timeout.</summary>
    Timeout,
    /// <summary>The channel closed before a full response arrived.</summary>
    ConnectionClosed,
    /// <summary>The response header declares an impossible size.</summary>
    MalformedResponse,
    /// <summary>A TPM specification string could not be parsed.</summary>
    InvalidSpecification,
}

/// <summary>A transport-level failure (not a TPM error code).</summary>
public sealed class TpmTransportException : IOException
{
    /// <summary>Creates the exception.</summary>
    public TpmTransportException(TpmTransportError reason, string message, Exception? inner = null)
        : base($"{reason}: {message}", inner)
    {
        Reason = reason;
    }

    /// <summary>The named reason.</summary>
    public TpmTransportError Reason { get; }
}
