namespace OpenHgs.Tpm.Marshalling;

/// <summary>Why a TPM structure could not be unmarshalled.</summary>
public enum TpmFormatError
{
    /// <summary>The structure extends past the end of the buffer.</summary>
    Truncated,
    /// <summary>A size field exceeds the limit for its type.</summary>
    SizeTooLarge,
    /// <summary>A count field exceeds the limit for its type.</summary>
    CountTooLarge,
    /// <summary>An algorithm, structure tag or selector value is not supported.</summary>
    UnsupportedValue,
    /// <summary>A TPM2B's declared size does not match the size of its content.</summary>
    SizeMismatch,
    /// <summary>Bytes remain after the structure where none are allowed.</summary>
    TrailingBytes,
}

/// <summary>
/// Thrown when bytes received from a TPM or a peer are not a well-formed TPM structure.
/// <see cref="Offset"/> is the byte offset in the buffer being read.
/// </summary>
public sealed class TpmFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public TpmFormatException(TpmFormatError reason, int offset, string detail)
        : base($"Malformed TPM structure at offset {offset}: {reason}: {detail}")
    {
        Reason = reason;
        Offset = offset;
    }

    /// <summary>The named reason.</summary>
    public TpmFormatError Reason { get; }

    /// <summary>Byte offset where the problem was detected.</summary>
    public int Offset { get; }
}
