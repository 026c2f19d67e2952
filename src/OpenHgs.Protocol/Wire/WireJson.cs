using System.Text.Json;
using System.Text.Json.Serialization;

namespace OpenHgs.Protocol.Wire;

/// <summary>Source-generated JSON for every wire contract: camelCase, no unknown members accepted.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = false,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ChallengeResponse))]
[JsonSerializable(typeof(AttestRequest))]
[JsonSerializable(typeof(AttestResponse))]
[JsonSerializable(typeof(ReleaseRequest))]
[JsonSerializable(typeof(ReleaseResponse))]
[JsonSerializable(typeof(FabricKeyInfo))]
[JsonSerializable(typeof(List<FabricKeyInfo>))]
[JsonSerializable(typeof(AddKeyRequest))]
[JsonSerializable(typeof(HostInfo))]
[JsonSerializable(typeof(List<HostInfo>))]
[JsonSerializable(typeof(AddHostKeyRequest))]
[JsonSerializable(typeof(AuditVerifyResult))]
[JsonSerializable(typeof(List<AuditRecordInfo>))]
[JsonSerializable(typeof(ServiceSettings))]
[JsonSerializable(typeof(DenyBeforeRequest))]
[JsonSerializable(typeof(HealthReport))]
public sealed partial class WireJson : JsonSerializerContext;
