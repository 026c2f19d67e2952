using System.Text;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client;

/// <summary>
/// The fabric admin's HTTP client for <c>/admin/v1</c>, with the same failover as hosts: the bearer credential (none when
/// the service authenticates admins by client certificate only) and the TLS options (CA, client certificate).
/// </summary>
public sealed class AdminClient(IEnumerable<string> urls, string? token, ClientTlsOptions? tls = null) : IDisposable
{
    private readonly FailoverHttpClient _http = new(urls, tls: tls) { BearerToken = token };

    public Task<List<FabricKeyInfo>> ListKeysAsync(CancellationToken ct) => GetAsync("admin/v1/keys", WireJson.Default.ListFabricKeyInfo, ct);

    /// <summary>How the key store holds every key the fabric uses, copy by copy, with the findings (<c>hgs keys custody</c>).</summary>
    public Task<KeyCustodyReport> GetKeyCustodyAsync(CancellationToken ct) => GetAsync("admin/v1/keys/custody", WireJson.Default.KeyCustodyReport, ct);

    public Task<FabricKeyInfo> AddKeyAsync(string role, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/keys", new AddKeyRequest(role), WireJson.Default.AddKeyRequest, WireJson.Default.FabricKeyInfo, ct);

    public Task SetPrimaryAsync(string id, CancellationToken ct) => SendAsync(HttpMethod.Post, $"admin/v1/keys/{Uri.EscapeDataString(id)}/primary", ct);

    public Task SetEnabledAsync(string id, bool enabled, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, $"admin/v1/keys/{Uri.EscapeDataString(id)}/{(enabled ? "enable" : "disable")}", ct);

    public Task RemoveKeyAsync(string id, CancellationToken ct) => SendAsync(HttpMethod.Delete, $"admin/v1/keys/{Uri.EscapeDataString(id)}", ct);

    /// <summary>Every registered host whose row verifies, in name order, read page by page (design change 87).</summary>
    public async Task<List<HostInfo>> ListHostsAsync(CancellationToken ct)
    {
        var hosts = new List<HostInfo>();
        await foreach (var page in ListHostPagesAsync(ct).ConfigureAwait(false))
        {
            hosts.AddRange(page.Hosts);
        }

        return hosts;
    }

    /// <summary>
    /// Every page of <c>GET /admin/v1/hosts</c> in turn, each as large as the service allows, until one says no page follows.
    /// </summary>
    /// <exception cref="HgsClientException"><c>HostPageCursorInvalid</c>: a page names a next page but no row, or the cursor it was asked with.</exception>
    public async IAsyncEnumerable<HostPage> ListHostPagesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        string? after = null;
        do
        {
            var page = await ListHostPageAsync(null, after, null, ct).ConfigureAwait(false);
            // A cursor that does not move would ask for the same page forever.
            if (page.Next is not null && (page.Hosts.Count + page.Rejected.Count == 0 || page.Next == after))
            {
                throw new HgsClientException("HostPageCursorInvalid", $"The service's host page after '{after}' names next page '{page.Next}' without moving past it.");
            }

            yield return page;
            after = page.Next;
        }
        while (after is not null);
    }

    /// <summary>One page of hosts: at most <paramref name="limit"/> (null: the service's default) after <paramref name="after"/>, starting <paramref name="prefix"/>.</summary>
    public Task<HostPage> ListHostPageAsync(int? limit, string? after, string? prefix, CancellationToken ct)
    {
        var query = new List<string>();
        if (limit is { } l)
        {
            query.Add("limit=" + l.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (after is not null)
        {
            query.Add("after=" + Uri.EscapeDataString(after));
        }

        if (prefix is not null)
        {
            query.Add("prefix=" + Uri.EscapeDataString(prefix));
        }

        return GetAsync("admin/v1/hosts" + (query.Count == 0 ? string.Empty : "?" + string.Join('&', query)), WireJson.Default.HostPage, ct);
    }

    public Task<HostInfo> AddHostKeyAsync(string name, string publicKey, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/hosts/key", new AddHostKeyRequest(name, publicKey), WireJson.Default.AddHostKeyRequest, WireJson.Default.HostInfo, ct);

    public Task RemoveHostAsync(string name, CancellationToken ct) => SendAsync(HttpMethod.Delete, $"admin/v1/hosts/{Uri.EscapeDataString(name)}", ct);

    public async Task<string> ExportGuardianAsync(CancellationToken ct)
    {
        using var response = await _http.SendAsync(HttpMethod.Get, "admin/v1/guardian", null, ct).ConfigureAwait(false);
        return response.IsSuccessStatusCode
            ? await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)
            : throw await FailoverHttpClient.ProblemAsync(response, ct).ConfigureAwait(false);
    }

    public Task<AuditVerifyResult> VerifyAuditAsync(CancellationToken ct) => GetAsync("admin/v1/audit/verify", WireJson.Default.AuditVerifyResult, ct);

    /// <summary>Verifies the audit trail also against <paramref name="checkpoint"/>, a checkpoint kept outside the database.</summary>
    public Task<AuditVerifyResult> VerifyAuditAsync(AuditCheckpointFile checkpoint, CancellationToken ct) =>
        _http.SendJsonAsync(HttpMethod.Post, "admin/v1/audit/verify", new AuditVerifyRequest(checkpoint), WireJson.Default.AuditVerifyRequest, WireJson.Default.AuditVerifyResult, ct);

    /// <summary>Every security-relevant row checked against its MAC and the audit trail (<c>GET /admin/v1/audit/rows</c>).</summary>
    public Task<RowIntegrityReport> VerifyRowsAsync(CancellationToken ct) => GetAsync("admin/v1/audit/rows", WireJson.Default.RowIntegrityReport, ct);

    public Task<AuditCheckpointFile> ExportAuditCheckpointAsync(CancellationToken ct) => GetAsync("admin/v1/audit/checkpoint", WireJson.Default.AuditCheckpointFile, ct);

    /// <summary>The newest audit records, newest first.</summary>
    public Task<List<AuditRecordInfo>> ReadAuditAsync(int limit, CancellationToken ct) => QueryAuditAsync(limit, null, null, null, null, null, ct);

    /// <summary>
    /// Audit records matching a filter: the newest first, or, with <paramref name="afterSequence"/>, those after it
    /// oldest first (to follow the trail).
    /// </summary>
    public Task<List<AuditRecordInfo>> QueryAuditAsync(int limit, DateTimeOffset? since, string? auditEvent, string? subject, long? afterSequence, string? outcome, CancellationToken ct)
    {
        var query = new List<string> { "limit=" + limit.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (since is { } s)
        {
            query.Add("since=" + Uri.EscapeDataString(s.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (auditEvent is not null)
        {
            query.Add("event=" + Uri.EscapeDataString(auditEvent));
        }

        if (subject is not null)
        {
            query.Add("subject=" + Uri.EscapeDataString(subject));
        }

        if (outcome is not null)
        {
            query.Add("outcome=" + Uri.EscapeDataString(outcome));
        }

        if (afterSequence is { } a)
        {
            query.Add("after=" + a.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return GetAsync("admin/v1/audit?" + string.Join('&', query), WireJson.Default.ListAuditRecordInfo, ct);
    }

    public Task<ServiceSettings> GetSettingsAsync(CancellationToken ct) => GetAsync("admin/v1/settings", WireJson.Default.ServiceSettings, ct);

    public Task SetModeAsync(string mode, CancellationToken ct) => SendAsync(HttpMethod.Put, $"admin/v1/settings/mode/{Uri.EscapeDataString(mode)}", ct);

    public async Task SetValidityAsync(int minutes, CancellationToken ct)
    {
        using var content = new StringContent(System.Text.Json.JsonSerializer.Serialize(new ValidityRequest(minutes), WireJson.Default.ValidityRequest), Encoding.UTF8, "application/json");
        using var response = await _http.SendAsync(HttpMethod.Put, "admin/v1/settings/validity", content, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailoverHttpClient.ProblemAsync(response, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Sets the deny-before date to <paramref name="denyBefore"/> (null clears it).</summary>
    public Task SetDenyBeforeAsync(DateTimeOffset? denyBefore, CancellationToken ct) => PutDenyBeforeAsync(new DenyBeforeRequest(denyBefore), ct);

    /// <summary>Sets the deny-before date to the service's clock (not this machine's).</summary>
    public Task SetDenyBeforeNowAsync(CancellationToken ct) => PutDenyBeforeAsync(new DenyBeforeRequest(null, Now: true), ct);

    private async Task PutDenyBeforeAsync(DenyBeforeRequest request, CancellationToken ct)
    {
        using var content = new StringContent(System.Text.Json.JsonSerializer.Serialize(request, WireJson.Default.DenyBeforeRequest), Encoding.UTF8, "application/json");
        using var response = await _http.SendAsync(HttpMethod.Put, "admin/v1/settings/deny-before", content, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailoverHttpClient.ProblemAsync(response, ct).ConfigureAwait(false);
        }
    }

    public void Dispose() => _http.Dispose();

    private Task<T> GetAsync<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken ct) =>
        _http.SendJsonAsync<AddKeyRequest, T>(HttpMethod.Get, path, null, WireJson.Default.AddKeyRequest, type, ct);

    private async Task SendAsync(HttpMethod method, string path, CancellationToken ct)
    {
        using var response = await _http.SendAsync(method, path, null, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailoverHttpClient.ProblemAsync(response, ct).ConfigureAwait(false);
        }
    }
}
