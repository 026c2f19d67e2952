using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace OpenHgs.Client;

/// <summary>
/// Sends each request to a list of equivalent service URLs: the one that answered last first, then the
/// others in order. A connection failure, timeout, refused TLS certificate or 502/503/504 moves on to the next URL;
/// any other answer (success or a refusal) is final, so a refusal is never retried elsewhere hoping for a different
/// verdict. Every https URL is checked as <see cref="ClientTlsOptions"/> says (system trust by default).
/// </summary>
public sealed class FailoverHttpClient : IDisposable
{
    /// <summary>The refusal of a bearer credential bound for plain http beyond loopback (nothing was sent).</summary>
    public const string AdminCredentialNeedsHttps = nameof(AdminCredentialNeedsHttps);

    private readonly HttpClient _http;
    private readonly IReadOnlyList<Uri> _baseUrls;
    private int _preferred;

    public FailoverHttpClient(IEnumerable<string> baseUrls, TimeSpan? timeout = null, HttpMessageHandler? handler = null, ClientTlsOptions? tls = null)
    {
        ArgumentNullException.ThrowIfNull(baseUrls);
        _baseUrls = baseUrls.Select(u => new Uri(u.EndsWith('/') ? u : u + "/", UriKind.Absolute)).ToList();
        if (_baseUrls.Count == 0)
        {
            throw new ArgumentException("At least one URL is needed.", nameof(baseUrls));
        }

        _http = new HttpClient(handler ?? (tls ?? ClientTlsOptions.Default).CreateHandler());
        _http.Timeout = timeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>Bearer credential added to every request (admin calls only).</summary>
    public string? BearerToken { get; init; }

    /// <summary>The URLs tried for the last request, and why each failed, for diagnostics.</summary>
    public IReadOnlyList<string> LastFailures { get; private set; } = [];

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        RefuseBearerInClear();
        byte[]? body = content is null ? null : await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var contentType = content?.Headers.ContentType;
        var failures = new List<string>();
        int certificateRefusals = 0;
        int start = Volatile.Read(ref _preferred);
        for (int i = 0; i < _baseUrls.Count; i++)
        {
            int index = (start + i) % _baseUrls.Count;
            var url = new Uri(_baseUrls[index], path.TrimStart('/'));
            using var request = new HttpRequestMessage(method, url);
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = contentType;
            }

            if (BearerToken is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BearerToken);
            }

            try
            {
                var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout && i < _baseUrls.Count - 1)
                {
                    failures.Add($"{_baseUrls[index]}: HTTP {(int)response.StatusCode}");
                    response.Dispose();
                    continue;
                }

                Volatile.Write(ref _preferred, index);
                LastFailures = failures;
                return response;
            }
            catch (HttpRequestException ex) when (CertificateRefusal(ex) is { } refusal)
            {
                certificateRefusals++;
                failures.Add($"{_baseUrls[index]}: TLS server certificate refused: {refusal.Message}");
            }
            catch (HttpRequestException ex)
            {
                failures.Add($"{_baseUrls[index]}: {ex.Message}{(ex.InnerException is { } inner ? " (" + inner.Message + ")" : string.Empty)}");
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{_baseUrls[index]}: timed out");
            }
        }

        LastFailures = failures;
        throw certificateRefusals == failures.Count
            ? new HgsClientException("ServerCertificateRejected", "No service URL presented a trusted certificate: " + string.Join("; ", failures))
            : new HgsClientException("ServiceUnreachable", "No service URL answered: " + string.Join("; ", failures));
    }

    /// <summary>
    /// The admin credential never goes out over plain http beyond loopback: a request line and its headers are written
    /// before the server answers, so one mistyped <c>http://</c> URL (even to an https-only server) would hand the token
    /// to anyone on the path. Checked for every URL before the first is tried, so nothing is sent anywhere.
    /// </summary>
    private void RefuseBearerInClear()
    {
        if (BearerToken is null)
        {
            return;
        }

        foreach (var url in _baseUrls)
        {
            if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback)
            {
                throw new HgsClientException(AdminCredentialNeedsHttps,
                    $"{url}: the admin credential is sent only over https (or plain http to loopback); use https:// (docs/tls.md).");
            }
        }
    }

    private static ServerCertificateRejectedException? CertificateRefusal(Exception ex)
    {
        for (var e = ex.InnerException; e is not null; e = e.InnerException)
        {
            if (e is ServerCertificateRejectedException refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    /// <summary>Sends JSON and reads JSON; non-success answers become <see cref="HgsClientException"/> with the problem code.</summary>
    public async Task<TResponse> SendJsonAsync<TRequest, TResponse>(
        HttpMethod method, string path, TRequest? request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken, params int[] acceptedStatuses)
    {
        using var content = request is null ? null : new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, requestType));
        content?.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await SendAsync(method, path, content, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && !acceptedStatuses.Contains((int)response.StatusCode))
        {
            throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(stream, responseType, cancellationToken).ConfigureAwait(false)
            ?? throw new HgsClientException(ResponseBase64.Code, $"{path}: the service answered with an empty body.");
    }

    /// <summary>Reads a problem+json answer into an exception carrying its code and detail.</summary>
    public static async Task<HgsClientException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            string code = root.TryGetProperty("code", out var c) ? c.GetString() ?? "Error" : "Http" + (int)response.StatusCode;
            string detail = root.TryGetProperty("detail", out var d) ? d.GetString() ?? code : code;
            return new HgsClientException(code, detail, (int)response.StatusCode);
        }
        catch (JsonException)
        {
            return new HgsClientException("Http" + (int)response.StatusCode, $"The service answered HTTP {(int)response.StatusCode}.", (int)response.StatusCode);
        }
    }

    public void Dispose() => _http.Dispose();
}
