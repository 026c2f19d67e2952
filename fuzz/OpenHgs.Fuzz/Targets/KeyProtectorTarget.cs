using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Fuzz.Targets;

/// <summary>A key protector (the JSON a tenant or host sends with a release request).</summary>
public sealed class KeyProtectorTarget : FuzzTarget<KeyProtectorException>
{
    public override string Name => "key-protector";

    public override string Description => "KeyProtector.Parse; refusal: KeyProtectorException";

    protected override void Run(ReadOnlySpan<byte> input) => KeyProtector.Parse(input);
}
