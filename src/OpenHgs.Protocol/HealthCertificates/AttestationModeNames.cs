namespace OpenHgs.Protocol.HealthCertificates;

/// <summary>
/// The one spelling of each <see cref="AttestationMode"/> wherever a mode is text: the mode setting, host records, audit
/// details, the admin API and the CLI.
/// </summary>
public static class AttestationModeNames
{
    public const string HostKey = "host-key";

    public const string Tpm = "tpm";

    /// <summary>The name of <paramref name="mode"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined mode.</exception>
    public static string Of(AttestationMode mode) => mode switch
    {
        AttestationMode.HostKey => HostKey,
        AttestationMode.Tpm => Tpm,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Not an attestation mode."),
    };

    /// <summary>The mode named <paramref name="name"/> (exact, case-sensitive), or null.</summary>
    public static AttestationMode? TryParse(string? name) => name switch
    {
        HostKey => AttestationMode.HostKey,
        Tpm => AttestationMode.Tpm,
        _ => null,
    };
}
