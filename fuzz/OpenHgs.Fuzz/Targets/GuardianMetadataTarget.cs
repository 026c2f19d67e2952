using System.Text;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Fuzz.Targets;

/// <summary>Guardian metadata a tenant imports (JSON with two certificates).</summary>
public sealed class GuardianMetadataTarget : FuzzTarget<GuardianFormatException>
{
    public override string Name => "guardian-metadata";

    public override string Description => "GuardianMetadata.Parse (UTF-8 text); refusal: GuardianFormatException";

    protected override void Run(ReadOnlySpan<byte> input) => GuardianMetadata.Parse(Encoding.UTF8.GetString(input));
}
