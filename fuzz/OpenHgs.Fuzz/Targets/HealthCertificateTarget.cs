using OpenHgs.Protocol.HealthCertificates;

namespace OpenHgs.Fuzz.Targets;

/// <summary>
/// A health certificate as presented with a release request, checked against one trusted signer (the seed
/// certificates were issued by it, see <see cref="SeedWriter"/>). A fresh validator per input keeps the
/// validator's memo from making one input's path depend on the previous ones.
/// </summary>
public sealed class HealthCertificateTarget : FuzzTarget<HealthCertificateException>
{
    /// <summary>The trusted signer's certificate (DER); the CRL target verifies signatures with its key too.</summary>
    internal static readonly byte[] Signer = LoadSigner();

    public override string Name => "health-certificate";

    public override string Description => "HealthCertificateValidator.Validate with one trusted ECDSA signer; refusal: HealthCertificateException";

    protected override void Run(ReadOnlySpan<byte> input) =>
        new HealthCertificateValidator([Signer]).Validate(input, SeedWriter.HealthIssuedAt.AddHours(1), SeedWriter.HealthIssuedAt.AddDays(-1));

    private static byte[] LoadSigner()
    {
        using var stream = typeof(HealthCertificateTarget).Assembly.GetManifestResourceStream(SeedWriter.HealthSignerResource)
            ?? throw new InvalidOperationException($"The embedded resource {SeedWriter.HealthSignerResource} is missing.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
