using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Fuzz.Targets;

/// <summary>
/// Every request body the service (and the CLI's checkpoint file) reads through <see cref="WireJson"/>: one input is
/// deserialized as each contract in turn. The server turns JsonException into RequestMalformed; anything else is a 500.
/// </summary>
public sealed class WireContractsTarget : FuzzTarget<JsonException>
{
    /// <summary>The contracts read from untrusted input.</summary>
    public static IReadOnlyList<JsonTypeInfo> Contracts { get; } =
    [
        WireJson.Default.AttestRequest,
        WireJson.Default.ReleaseRequest,
        WireJson.Default.ActivationRequest,
        WireJson.Default.ActivationCompletion,
        WireJson.Default.AddTpmHostRequest,
        WireJson.Default.AddTpmRootRequest,
        WireJson.Default.AddBaselineRequest,
        WireJson.Default.AddKeyRequest,
        WireJson.Default.AddHostKeyRequest,
        WireJson.Default.DenyBeforeRequest,
        WireJson.Default.AuditVerifyRequest,
        WireJson.Default.AuditCheckpointFile,
    ];

    public override string Name => "wire";

    public override string Description => "JsonSerializer.Deserialize with WireJson for every request contract; refusal: JsonException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        foreach (var contract in Contracts)
        {
            try
            {
                JsonSerializer.Deserialize(input, contract);
            }
            catch (JsonException)
            {
                // Refused as this contract; the next contract still gets the input.
            }
        }
    }
}
