namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>Limits on AK activation, whose first step any caller who knows a registered EK's public key can start.</summary>
public sealed record TpmActivationOptions
{
    /// <summary>Outstanding (started, not completed, not expired) activations one host may have; more are refused.</summary>
    public int MaxPendingPerHost { get; init; } = 8;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a limit that would refuse every activation or none.</summary>
    public TpmActivationOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingPerHost, 1, nameof(MaxPendingPerHost));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxPendingPerHost, 10_000, nameof(MaxPendingPerHost));
        return this;
    }
}
