using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client.Tpm;

/// <summary>The fabric admin's TPM-mode calls on <c>/admin/v1</c>: TPM roots, TPM hosts, policies, baselines.</summary>
public sealed class TpmAdminClient(IEnumerable<string> urls, string? token, ClientTlsOptions? tls = null) : IDisposable
{
    private readonly FailoverHttpClient _http = new(urls, tls: tls) { BearerToken = token };

    public Task<TpmRootInfo> AddRootAsync(string certificate, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/tpm-roots", new AddTpmRootRequest(certificate), WireJson.Default.AddTpmRootRequest, WireJson.Default.TpmRootInfo, ct);

    public Task<List<TpmRootInfo>> ListRootsAsync(CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, List<TpmRootInfo>>(HttpMethod.Get, "admin/v1/tpm-roots", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.ListTpmRootInfo, ct);

    /// <summary>Removes a TPM root named by its thumbprint (or a unique prefix of at least 16 hex digits).</summary>
    public Task<TpmRootInfo> RemoveRootAsync(string thumbprint, CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, TpmRootInfo>(HttpMethod.Delete, $"admin/v1/tpm-roots/{Uri.EscapeDataString(thumbprint)}", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.TpmRootInfo, ct);

    /// <summary>Imports a TPM manufacturer's CRL (PEM or base64 DER).</summary>
    public Task<TpmCrlInfo> AddCrlAsync(string crl, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/tpm-crls", new AddTpmCrlRequest(crl), WireJson.Default.AddTpmCrlRequest, WireJson.Default.TpmCrlInfo, ct);

    public Task<List<TpmCrlInfo>> ListCrlsAsync(CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmCrlRequest, List<TpmCrlInfo>>(HttpMethod.Get, "admin/v1/tpm-crls", null, WireJson.Default.AddTpmCrlRequest, WireJson.Default.ListTpmCrlInfo, ct);

    /// <summary>Removes the CRL of an issuer named by its thumbprint (or a unique prefix of at least 16 hex digits).</summary>
    public Task<TpmCrlInfo> RemoveCrlAsync(string issuerThumbprint, CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmCrlRequest, TpmCrlInfo>(HttpMethod.Delete, $"admin/v1/tpm-crls/{Uri.EscapeDataString(issuerThumbprint)}", null, WireJson.Default.AddTpmCrlRequest, WireJson.Default.TpmCrlInfo, ct);

    public Task<HostInfo> AddHostAsync(string name, TpmIdentity identity, bool allowWithoutCertificate, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/hosts/tpm", new AddTpmHostRequest(name, identity, allowWithoutCertificate), WireJson.Default.AddTpmHostRequest, WireJson.Default.HostInfo, ct);

    /// <summary>Stores an EK certificate (DER) for a registered TPM host that has none (design change 85).</summary>
    public Task<HostInfo> SetEkCertificateAsync(string name, byte[] ekCertificate, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Put, $"admin/v1/hosts/{Uri.EscapeDataString(name)}/ek-certificate", new SetEkCertificateRequest(Convert.ToBase64String(ekCertificate)),
            WireJson.Default.SetEkCertificateRequest, WireJson.Default.HostInfo, ct);

    public Task<List<PolicyInfo>> ListPoliciesAsync(CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, List<PolicyInfo>>(HttpMethod.Get, "admin/v1/policies", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.ListPolicyInfo, ct);

    /// <summary>Sets a policy's state (<c>enabled</c>, <c>disabled</c>, <c>staged</c>); the answer carries the new policy version.</summary>
    public Task<PolicyChangeResult> SetPolicyStateAsync(string name, string state, CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, PolicyChangeResult>(HttpMethod.Put, $"admin/v1/policies/{Uri.EscapeDataString(name)}/{Uri.EscapeDataString(state)}", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.PolicyChangeResult, ct);

    public Task<BaselineInfo> AddBaselineAsync(string name, BaselineDocument baseline, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/baselines", new AddBaselineRequest(name, baseline), WireJson.Default.AddBaselineRequest, WireJson.Default.BaselineInfo, ct);

    public Task<List<BaselineInfo>> ListBaselinesAsync(CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, List<BaselineInfo>>(HttpMethod.Get, "admin/v1/baselines", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.ListBaselineInfo, ct);

    /// <summary>Every policy state and baseline document of one policy version (offline evaluation).</summary>
    public Task<PolicySet> ExportPolicySetAsync(CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, PolicySet>(HttpMethod.Get, "admin/v1/policy-set", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.PolicySet, ct);

    /// <summary>Removes a baseline; the answer carries the new policy version (state <c>removed</c>).</summary>
    public Task<PolicyChangeResult> RemoveBaselineAsync(string name, CancellationToken ct) =>
        _http.SendJsonAsync<AddTpmRootRequest, PolicyChangeResult>(HttpMethod.Delete, $"admin/v1/baselines/{Uri.EscapeDataString(name)}", null, WireJson.Default.AddTpmRootRequest, WireJson.Default.PolicyChangeResult, ct);

    public void Dispose() => _http.Dispose();
}
