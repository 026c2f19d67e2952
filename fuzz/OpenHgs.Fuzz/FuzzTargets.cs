using OpenHgs.Fuzz.Targets;

namespace OpenHgs.Fuzz;

/// <summary>The table of fuzz targets. Add a target here and give it a seed folder under fuzz/corpus.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new EventLogTarget(),
        new TpmtPublicTarget(),
        new TpmsAttestTarget(),
        new TpmtSignatureTarget(),
        new KeyProtectorTarget(),
        new GuardianMetadataTarget(),
        new HealthCertificateTarget(),
        new HealthVerdictTarget(),
        new WireContractsTarget(),
        new TpmCrlTarget(),
    ];

    /// <summary>The target with this name, or null.</summary>
    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.Ordinal));
}
