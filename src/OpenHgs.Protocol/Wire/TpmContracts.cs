namespace OpenHgs.Protocol.Wire;

/// <summary>
/// TPM-mode evidence for <c>POST /attestation/v1/attest</c>. Binary fields are base64 of the exact TPM structures:
/// <c>ekPublic</c>, <c>akPublic</c>, <c>hostKeyPublic</c> are TPMT_PUBLIC; <c>quote</c> and <c>certify</c> are the
/// TPMS_ATTEST bytes the TPM signed (extraData = the challenge nonce); the signatures are TPMT_SIGNATURE; the
/// event log is the raw TCG log (binary_bios_measurements). <c>certify</c>/<c>certifySignature</c> may be null
/// only to be refused (the host key must be certified by the AK).
/// </summary>
public sealed record TpmEvidence(
    string EkPublic,
    string AkPublic,
    string Quote,
    string QuoteSignature,
    string HostKeyPublic,
    string? Certify,
    string? CertifySignature,
    string EventLog);

/// <summary><c>POST /attestation/v1/tpm/activate</c>: the host asks for a credential bound to its registered EK and its AK's Name.</summary>
public sealed record ActivationRequest(string EkPublic, string AkPublic);

/// <summary>TPM2_MakeCredential output (TPM2B_ID_OBJECT content and TPM2B_ENCRYPTED_SECRET content, base64); single use, short-lived.</summary>
public sealed record ActivationChallenge(string CredentialBlob, string EncryptedSecret, DateTimeOffset ExpiresAt);

/// <summary><c>POST /attestation/v1/tpm/activate/complete</c>: the credential the TPM recovered with TPM2_ActivateCredential (base64).</summary>
public sealed record ActivationCompletion(string EkPublic, string AkPublic, string Credential);

/// <summary>The answer to a completed activation: the AK is now the one this host's quotes must be signed with.</summary>
public sealed record ActivationResult(string HostName, string AkName);

/// <summary>A TPM's identity for enrolment (<c>hgs client identify</c>): the EK public area and, when the TPM has one, its EK certificate (DER, base64).</summary>
public sealed record TpmIdentity(int Version, string EkPublic, string? EkCertificate);

/// <summary>Registers a TPM host. Without an EK certificate the admin must say so explicitly (<c>allowWithoutCertificate</c>).</summary>
public sealed record AddTpmHostRequest(string Name, TpmIdentity Identity, bool AllowWithoutCertificate);

/// <summary>
/// <c>PUT /admin/v1/hosts/{name}/ek-certificate</c>: the EK certificate (DER, base64) to store for a registered TPM host
/// that has none (design change 85).
/// </summary>
public sealed record SetEkCertificateRequest(string EkCertificate);

/// <summary>Adds a TPM manufacturer root (or intermediate) certificate, PEM or base64 DER.</summary>
public sealed record AddTpmRootRequest(string Certificate);

/// <summary>A registered TPM root.</summary>
public sealed record TpmRootInfo(string Thumbprint, string Subject, DateTimeOffset AddedAt);

/// <summary>Imports a TPM manufacturer's CRL for a registered root or intermediate, PEM or base64 DER.</summary>
public sealed record AddTpmCrlRequest(string Crl);

/// <summary>An imported CRL: its issuer (the registered certificate that signed it), number (hex; empty when it has none), validity and how many certificates it revokes.</summary>
/// <param name="RevokedHosts">On an import: the registered TPM hosts the CRL revokes (their attestations are refused from now on); absent when none.</param>
/// <param name="UncheckedHosts">On an import: the registered TPM hosts whose EK chain is not stored (registered without an EK certificate, or before design change 75), which no CRL can reach; absent when none.</param>
public sealed record TpmCrlInfo(string IssuerThumbprint, string IssuerSubject, string CrlNumber, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, int Revoked, DateTimeOffset AddedAt,
    IReadOnlyList<TpmRevokedHost>? RevokedHosts = null, IReadOnlyList<string>? UncheckedHosts = null);

/// <summary>A registered TPM host a CRL revokes, and what revokes it (the serial, the CRL's issuer and number).</summary>
public sealed record TpmRevokedHost(string Name, string Detail);

/// <summary>One attestation policy: name, state (enabled, disabled, staged), its default state and what it checks.</summary>
public sealed record PolicyInfo(string Name, string State, string DefaultState, string Description);

/// <summary>The outcome of changing policies: the new policy version (named in every health certificate issued after).</summary>
public sealed record PolicyChangeResult(string Name, string State, int PolicyVersion);

/// <summary>
/// A reference host's measurements (<c>hgs client baseline</c>): its TCG event log (base64), the PCR values that log
/// replays to (bank → PCR → hex), which matched the TPM's own PCRs when captured, and the Secure Boot state.
/// </summary>
public sealed record BaselineDocument(
    int Version,
    string HardwareClass,
    DateTimeOffset CapturedAt,
    string EventLog,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Pcrs,
    bool? SecureBootEnabled);

/// <summary>Registers a baseline under a name.</summary>
public sealed record AddBaselineRequest(string Name, BaselineDocument Baseline);

/// <summary>A registered baseline.</summary>
public sealed record BaselineInfo(string Name, string HardwareClass, DateTimeOffset AddedAt, int PolicyVersion);

/// <summary>
/// <c>GET /admin/v1/policy-set</c>: every policy's state and every baseline document in force at one policy version, so
/// evidence can be evaluated offline exactly as the service would (<c>hgs evidence verify --policy-from</c>).
/// </summary>
public sealed record PolicySet(int PolicyVersion, List<PolicyInfo> Policies, List<PolicySetBaseline> Baselines);

/// <summary>One registered baseline with its document.</summary>
public sealed record PolicySetBaseline(string Name, DateTimeOffset AddedAt, BaselineDocument Document);
