namespace OpenHgs.Protocol.Wire;

/// <summary><c>POST /keyprotection/v1/release</c>: the VM's key protector (base64 of its JSON bytes) and the host's health certificate (base64 DER).</summary>
public sealed record ReleaseRequest(string KeyProtector, string HealthCertificate);

/// <summary>The transport key wrapped to the health certificate's key, and the rolled (egress) key protector (base64).</summary>
public sealed record ReleaseResponse(WrappedKeyContract TransportKey, string EgressKeyProtector);

/// <summary>A key wrapped with RSA-OAEP; <see cref="Algorithm"/> is <c>RSA-OAEP-256</c> or <c>RSA-OAEP</c> (SHA-1).</summary>
public sealed record WrappedKeyContract(string Algorithm, string Value);
