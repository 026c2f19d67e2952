using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Bench;

/// <summary>The guarded-host side of the wire protocol, lean enough that the client costs little of the shared CPU.</summary>
public sealed class WireClient(HttpClient http)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly Uri ChallengePath = new("attestation/v1/challenge", UriKind.Relative);
    private static readonly Uri AttestPath = new("attestation/v1/attest", UriKind.Relative);
    private static readonly Uri ReleasePath = new("keyprotection/v1/release", UriKind.Relative);

    /// <summary>Challenges from earlier attestations' <c>nextChallenge</c>: challenges are not bound to a host, so any worker may answer one.</summary>
    private readonly ConcurrentQueue<ChallengeResponse> _next = new();

    /// <summary>An HttpClient for <paramref name="baseAddress"/> whose pool allows <paramref name="connections"/> concurrent requests.</summary>
    public static HttpClient CreateHttp(Uri baseAddress, int connections) =>
        new(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>
    /// Sign the evidence over a challenge, attest: returns the health certificate (DER). Throws unless Passed. The
    /// challenge is an earlier verdict's unexpired <c>nextChallenge</c> (as a guarded host renewing its certificate
    /// does: one round trip per attestation), else a fresh <c>POST /attestation/v1/challenge</c>.
    /// </summary>
    public async Task<byte[]> AttestAsync(BenchHost host, CancellationToken cancellationToken) =>
        (await AttestCoreAsync(host, cancellationToken).ConfigureAwait(false)).Certificate;

    /// <summary>
    /// The HTTP exchanges of one steady-state host-key attestation, by size, for the HTTP floor: the attest exchange
    /// only (its challenge came with the previous verdict), unless no saved challenge was left.
    /// </summary>
    public async Task<HttpExchange[]> AttestShapeAsync(BenchHost host, CancellationToken cancellationToken)
    {
        // A first attestation fills the queue, so the measured one is shaped like the steady state.
        await AttestCoreAsync(host, cancellationToken).ConfigureAwait(false);
        return (await AttestCoreAsync(host, cancellationToken).ConfigureAwait(false)).Shape;
    }

    private async Task<(byte[] Certificate, HttpExchange[] Shape)> AttestCoreAsync(BenchHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        var exchanges = new List<HttpExchange>(2);
        ChallengeResponse? challenge = null;
        while (_next.TryDequeue(out var saved))
        {
            if (saved.ExpiresAt > DateTimeOffset.UtcNow.AddSeconds(30))
            {
                challenge = saved;
                break;
            }
        }

        if (challenge is null)
        {
            (challenge, var exchange) = await ChallengeExchangeAsync(cancellationToken).ConfigureAwait(false);
            exchanges.Add(exchange);
        }

        byte[] nonce = Base64Url.DecodeFromChars(challenge.Nonce);
        byte[] signature = host.Signing.SignData(HostKeyEvidenceMessage.Build(nonce, host.EncryptionPublicKey), HashAlgorithmName.SHA256);
        var request = new AttestRequest(
            Base64Url.EncodeToString(nonce),
            new HostKeyEvidence(Convert.ToBase64String(host.SigningPublicKey), Convert.ToBase64String(host.EncryptionPublicKey), Convert.ToBase64String(signature)));
        var (verdict, attest) = await AttestExchangeAsync(AttestBody(request), cancellationToken).ConfigureAwait(false);
        exchanges.Add(attest);
        if (verdict.NextChallenge is { } next)
        {
            _next.Enqueue(next);
        }

        return (Convert.FromBase64String(verdict.HealthCertificate!), [.. exchanges]);
    }

    /// <summary>A fresh nonce: <c>POST /attestation/v1/challenge</c>.</summary>
    public async Task<ChallengeResponse> ChallengeAsync(CancellationToken cancellationToken) =>
        (await ChallengeExchangeAsync(cancellationToken).ConfigureAwait(false)).Challenge;

    /// <summary>The JSON body of an attest request, serialised once before it is sent.</summary>
    public static byte[] AttestBody(AttestRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, WireJson.Default.AttestRequest);

    /// <summary>
    /// Sends a prepared attest body (<see cref="AttestBody"/>); throws unless the verdict is Passed with a certificate.
    /// Returns the exchange's sizes, which shape the HTTP floor of a TPM attestation.
    /// </summary>
    public async Task<HttpExchange> AttestPreparedAsync(byte[] body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        return (await AttestExchangeAsync(body, cancellationToken).ConfigureAwait(false)).Exchange;
    }

    /// <summary>The JSON body of a release request, built once and sent many times; it asks for the egress key, as hosts do.</summary>
    public static byte[] ReleaseBody(byte[] keyProtector, byte[] healthCertificate) =>
        JsonSerializer.SerializeToUtf8Bytes(new ReleaseRequest(Convert.ToBase64String(keyProtector), Convert.ToBase64String(healthCertificate), IncludeEgressTransportKey: true), WireJson.Default.ReleaseRequest);

    /// <summary>One key release; throws unless it is answered 200.</summary>
    public async Task<ReleaseResponse> ReleaseAsync(byte[] body, CancellationToken cancellationToken) =>
        JsonSerializer.Deserialize(await ReleaseBytesAsync(body, cancellationToken).ConfigureAwait(false), WireJson.Default.ReleaseResponse)!;

    /// <summary>The HTTP exchange of one release, by size, for the HTTP floor.</summary>
    public async Task<HttpExchange[]> ReleaseShapeAsync(byte[] body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        return [new HttpExchange(body.Length, (await ReleaseBytesAsync(body, cancellationToken).ConfigureAwait(false)).Length)];
    }

    /// <summary>
    /// The HTTP floor: each exchange as <c>POST /bench/v1/floor?bytes=N</c> with a body of the exchange's request size
    /// (none where the real request has none) and the same content type; throws unless every answer is 200 with N bytes.
    /// </summary>
    public async Task FloorAsync(FloorRequest[] exchanges, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(exchanges);
        foreach (var exchange in exchanges)
        {
            byte[] answer = await PostAsync(exchange.Uri, exchange.Body, "floor", cancellationToken).ConfigureAwait(false);
            if (answer.Length != exchange.ResponseBytes)
            {
                throw new InvalidOperationException($"the floor answered {answer.Length} bytes, not {exchange.ResponseBytes}");
            }
        }
    }

    private Task<byte[]> ReleaseBytesAsync(byte[] body, CancellationToken cancellationToken) =>
        PostAsync(ReleasePath, body, "release", cancellationToken);

    private async Task<(ChallengeResponse Challenge, HttpExchange Exchange)> ChallengeExchangeAsync(CancellationToken cancellationToken)
    {
        byte[] answer = await PostAsync(ChallengePath, null, "challenge", cancellationToken).ConfigureAwait(false);
        return (JsonSerializer.Deserialize(answer, WireJson.Default.ChallengeResponse)!, new HttpExchange(null, answer.Length));
    }

    /// <summary>One attest exchange; throws unless the verdict is Passed with a certificate (with the reasons when it is not).</summary>
    private async Task<(AttestResponse Verdict, HttpExchange Exchange)> AttestExchangeAsync(byte[] body, CancellationToken cancellationToken)
    {
        byte[] answer = await PostAsync(AttestPath, body, "attest", cancellationToken).ConfigureAwait(false);
        var verdict = JsonSerializer.Deserialize(answer, WireJson.Default.AttestResponse);
        return verdict is { Status: "Passed", HealthCertificate: not null }
            ? (verdict, new HttpExchange(body.Length, answer.Length))
            : throw new InvalidOperationException($"attestation answered {verdict?.Status}: {string.Join("; ", verdict?.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}") ?? [])}");
    }

    /// <summary>
    /// Every request the bench sends, real or floor, takes this one path (JSON content type, body read whole), so the
    /// floor costs the load generator what a real exchange of the same sizes does.
    /// </summary>
    private async Task<byte[]> PostAsync(Uri path, byte[]? body, string what, CancellationToken cancellationToken)
    {
        using var content = body is null ? null : new ByteArrayContent(body);
        if (content is not null)
        {
            content.Headers.ContentType = Json;
        }

        using var response = await http.PostAsync(path, content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException($"{what} answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}");
        }
    }
}

/// <summary>One HTTP exchange of a request, by size: the request body (null: none, as for a challenge) and the response body.</summary>
public sealed record HttpExchange(int? RequestBytes, int ResponseBytes)
{
    /// <summary>The floor request of the same shape, built once: a body of the same size, asking for the same answer size.</summary>
    public FloorRequest ToFloor() => new(
        new Uri($"{OpenHgs.Server.Endpoints.BenchFloorEndpoints.Path.TrimStart('/')}?bytes={ResponseBytes}", UriKind.Relative),
        RequestBytes is { } n ? [.. Enumerable.Repeat((byte)' ', n)] : null,
        ResponseBytes);
}

/// <summary>A prepared floor request (see <see cref="WireClient.FloorAsync"/>).</summary>
public sealed record FloorRequest(Uri Uri, byte[]? Body, int ResponseBytes);
