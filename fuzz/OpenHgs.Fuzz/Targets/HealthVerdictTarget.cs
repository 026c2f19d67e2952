using System.Formats.Asn1;
using OpenHgs.Protocol.HealthCertificates;

namespace OpenHgs.Fuzz.Targets;

/// <summary>
/// The health certificate's verdict extension on its own (the certificate target reaches it only behind a valid
/// signature). Its decoder documents AsnContentException and FormatException as its refusals.
/// </summary>
public sealed class HealthVerdictTarget : FuzzTarget
{
    public override string Name => "health-verdict";

    public override string Description => "HealthCertificateProfile.DecodeVerdict; refusal: AsnContentException or FormatException";

    protected override void Run(ReadOnlySpan<byte> input) => HealthCertificateProfile.DecodeVerdict(input.ToArray());

    protected override bool IsRejection(Exception exception) => exception is AsnContentException or FormatException;
}
