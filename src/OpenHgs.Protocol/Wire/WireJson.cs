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
[JsonSerializable(typeof(HostPage))]
[JsonSerializable(typeof(AddHostKeyRequest))]
[JsonSerializable(typeof(AuditVerifyResult))]
[JsonSerializable(typeof(RowIntegrityReport))]
[JsonSerializable(typeof(RowIntegritySnapshot))]
[JsonSerializable(typeof(AuditVerifyRequest))]
[JsonSerializable(typeof(AuditCheckpointFile))]
[JsonSerializable(typeof(List<AuditRecordInfo>))]
[JsonSerializable(typeof(List<KeyStoreMemberInfo>))]
[JsonSerializable(typeof(KeyCustodyReport))]
[JsonSerializable(typeof(ServiceSettings))]
[JsonSerializable(typeof(DenyBeforeRequest))]
[JsonSerializable(typeof(ValidityRequest))]
[JsonSerializable(typeof(HealthReport))]
[JsonSerializable(typeof(ActivationRequest))]
[JsonSerializable(typeof(ActivationChallenge))]
[JsonSerializable(typeof(ActivationCompletion))]
[JsonSerializable(typeof(ActivationResult))]
[JsonSerializable(typeof(TpmIdentity))]
[JsonSerializable(typeof(AddTpmHostRequest))]
[JsonSerializable(typeof(SetEkCertificateRequest))]
[JsonSerializable(typeof(AddTpmRootRequest))]
[JsonSerializable(typeof(TpmRootInfo))]
[JsonSerializable(typeof(List<TpmRootInfo>))]
[JsonSerializable(typeof(AddTpmCrlRequest))]
[JsonSerializable(typeof(TpmCrlInfo))]
[JsonSerializable(typeof(List<TpmCrlInfo>))]
[JsonSerializable(typeof(List<PolicyInfo>))]
[JsonSerializable(typeof(PolicyChangeResult))]
[JsonSerializable(typeof(BaselineDocument))]
[JsonSerializable(typeof(AddBaselineRequest))]
[JsonSerializable(typeof(BaselineInfo))]
[JsonSerializable(typeof(List<BaselineInfo>))]
[JsonSerializable(typeof(PolicySet))]
[JsonSerializable(typeof(OpenHgs.Protocol.ShieldedVms.ShieldedVmManifest))]
public sealed partial class WireJson : JsonSerializerContext;
