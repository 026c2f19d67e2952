using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Bench;

/// <summary>The guarded-host side of the wire protocol, lean enough that the client costs little of the shared CPU.</summary>
public sealed class WireClient(HttpClient http)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

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
    public async Task<byte[]> AttestAsync(BenchHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        ChallengeResponse? challenge = null;
        while (_next.TryDequeue(out var saved))
        {
            if (saved.ExpiresAt > DateTimeOffset.UtcNow.AddSeconds(30))
            {
                challenge = saved;
                break;
            }
        }

        byte[] nonce = Base64Url.DecodeFromChars((challenge ?? await ChallengeAsync(cancellationToken).ConfigureAwait(false)).Nonce);

        byte[] signature = host.Signing.SignData(HostKeyEvidenceMessage.Build(nonce, host.EncryptionPublicKey), HashAlgorithmName.SHA256);
        var request = new AttestRequest(
            Base64Url.EncodeToString(nonce),
            new HostKeyEvidence(Convert.ToBase64String(host.SigningPublicKey), Convert.ToBase64String(host.EncryptionPublicKey), Convert.ToBase64String(signature)));
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, WireJson.Default.AttestRequest));
        content.Headers.ContentType = Json;
        using var attest = await http.PostAsync(new Uri("attestation/v1/attest", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(attest, "attest", cancellationToken).ConfigureAwait(false);
        var verdict = await attest.Content.ReadFromJsonAsync(WireJson.Default.AttestResponse, cancellationToken).ConfigureAwait(false);
        if (verdict?.NextChallenge is { } next)
        {
            _next.Enqueue(next);
        }

        return verdict is { Status: "Passed", HealthCertificate: { } certificate }
            ? Convert.FromBase64String(certificate)
            : throw new InvalidOperationException($"attestation answered {verdict?.Status}");
    }

    /// <summary>A fresh nonce: <c>POST /attestation/v1/challenge</c>.</summary>
    public async Task<ChallengeResponse> ChallengeAsync(CancellationToken cancellationToken)
    {
        using var challenge = await http.PostAsync(new Uri("attestation/v1/challenge", UriKind.Relative), null, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(challenge, "challenge", cancellationToken).ConfigureAwait(false);
        return (await challenge.Content.ReadFromJsonAsync(WireJson.Default.ChallengeResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>The JSON body of an attest request, serialised once before it is sent.</summary>
    public static byte[] AttestBody(AttestRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, WireJson.Default.AttestRequest);

    /// <summary>Sends a prepared attest body (<see cref="AttestBody"/>); throws unless the verdict is Passed with a certificate.</summary>
    public async Task AttestPreparedAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        using var attest = await http.PostAsync(new Uri("attestation/v1/attest", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(attest, "attest", cancellationToken).ConfigureAwait(false);
        var verdict = await attest.Content.ReadFromJsonAsync(WireJson.Default.AttestResponse, cancellationToken).ConfigureAwait(false);
        if (verdict is not { Status: "Passed", HealthCertificate: not null })
        {
            throw new InvalidOperationException($"attestation answered {verdict?.Status}: {string.Join("; ", verdict?.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}") ?? [])}");
        }
    }

    /// <summary>The JSON body of a release request, built once and sent many times; it asks for the egress key, as hosts do.</summary>
    public static byte[] ReleaseBody(byte[] keyProtector, byte[] healthCertificate) =>
        JsonSerializer.SerializeToUtf8Bytes(new ReleaseRequest(Convert.ToBase64String(keyProtector), Convert.ToBase64String(healthCertificate), IncludeEgressTransportKey: true), WireJson.Default.ReleaseRequest);

    /// <summary>One key release; throws unless it is answered 200.</summary>
    public async Task<ReleaseResponse> ReleaseAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        using var response = await http.PostAsync(new Uri("keyprotection/v1/release", UriKind.Relative), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, "release", cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(WireJson.Default.ReleaseResponse, cancellationToken).ConfigureAwait(false))!;
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
