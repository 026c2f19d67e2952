using System.Text.Json.Serialization;

namespace OpenHgs.Protocol.Wire;

/// <summary>
/// <c>POST /keyprotection/v1/release</c>: the VM's key protector (base64 of its JSON bytes) and the host's health
/// certificate (base64 DER). <see cref="IncludeEgressTransportKey"/> asks for the egress key protector's transport
/// key too; clients from before it existed do not send it and get the response shape they know.
/// </summary>
public sealed record ReleaseRequest(string KeyProtector, string HealthCertificate, bool IncludeEgressTransportKey = false);

/// <summary>
/// The (ingress) transport key wrapped to the health certificate's key, the rolled (egress) key protector (base64),
/// and — when asked for — the egress key protector's fresh transport key wrapped to the same host key. The member is
/// left out rather than written as null when not asked for, because wire contracts refuse unknown members.
/// </summary>
public sealed record ReleaseResponse(
    WrappedKeyContract TransportKey,
    string EgressKeyProtector,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] WrappedKeyContract? EgressTransportKey = null);

/// <summary>A key wrapped with RSA-OAEP; <see cref="Algorithm"/> is <c>RSA-OAEP-256</c> or <c>RSA-OAEP</c> (SHA-1).</summary>
public sealed record WrappedKeyContract(string Algorithm, string Value);
