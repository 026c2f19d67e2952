namespace OpenHgs.Client;

/// <summary>A guarded-host operation failed; <see cref="Code"/> is the service's problem code or a client-side one.</summary>
public sealed class HgsClientException(string code, string message, int? httpStatus = null) : Exception(message)
{
    public string Code { get; } = code;

    public int? HttpStatus { get; } = httpStatus;
}
