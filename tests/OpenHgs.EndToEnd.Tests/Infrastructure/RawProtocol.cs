using System.Buffers.Text;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>An HTTP answer reduced to what tests assert: status, problem code (or attestation status) and body.</summary>
/// <param name="Text">The body exactly as answered (for byte-for-byte comparisons).</param>
public sealed record RawAnswer(int Status, string? Code, JsonElement Body, string Text = "", string? ContentType = null);

/// <summary>Speaks the wire protocol by hand, so tests can send what a well-behaved client never would.</summary>
public sealed class RawProtocol(string baseUrl) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/") };

    public async Task<byte[]> ChallengeAsync()
    {
        using var response = await _http.PostAsync("attestation/v1/challenge", null);
        response.EnsureSuccessStatusCode();
        var challenge = await response.Content.ReadFromJsonAsync(WireJson.Default.ChallengeResponse);
        return Base64Url.DecodeFromChars(challenge!.Nonce);
    }

    /// <summary>
    /// Host-key evidence over <paramref name="nonce"/>, signed by <paramref name="signer"/> with SHA-256 (ES256, as a P-256
    /// key signs) but presenting <paramref name="presentedKey"/>.
    /// </summary>
    public static AttestRequest Evidence(byte[] nonce, ECDsa signer, byte[] presentedKey, byte[] encryptionKey) =>
        new(Base64Url.EncodeToString(nonce), new HostKeyEvidence(
            Convert.ToBase64String(presentedKey),
            Convert.ToBase64String(encryptionKey),
            Convert.ToBase64String(signer.SignData(HostKeyEvidenceMessage.Build(nonce, encryptionKey), HashAlgorithmName.SHA256))));

    /// <summary>Host-key evidence over <paramref name="nonce"/>, signed as the client signs it (the hash its key's curve calls for).</summary>
    public static AttestRequest Evidence(byte[] nonce, HostKeyPair keys) =>
        new(Base64Url.EncodeToString(nonce), new HostKeyEvidence(
            Convert.ToBase64String(keys.SigningPublicKey),
            Convert.ToBase64String(keys.EncryptionPublicKey),
            Convert.ToBase64String(keys.SignEvidence(nonce))));

    public Task<RawAnswer> AttestAsync(AttestRequest request) =>
        PostAsync("attestation/v1/attest", JsonSerializer.Serialize(request, WireJson.Default.AttestRequest));

    public Task<RawAnswer> ReleaseAsync(byte[] keyProtector, byte[] healthCertificate) =>
        PostAsync("keyprotection/v1/release", JsonSerializer.Serialize(new ReleaseRequest(Convert.ToBase64String(keyProtector), Convert.ToBase64String(healthCertificate)), WireJson.Default.ReleaseRequest));

    public async Task<RawAnswer> PostAsync(string path, string json, string contentType = "application/json")
    {
        using var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await _http.PostAsync(path, content);
        string text = await response.Content.ReadAsStringAsync();
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        string? code = body.ValueKind != JsonValueKind.Object ? null
            : body.TryGetProperty("code", out var c) ? c.GetString()
            : body.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()
            : null;
        return new RawAnswer((int)response.StatusCode, code, body, text, response.Content.Headers.ContentType?.ToString());
    }

    /// <summary>The reason codes of a failed attestation answer.</summary>
    public static IReadOnlyList<string> ReasonCodes(RawAnswer answer) =>
        answer.Body.TryGetProperty("reasons", out var reasons)
            ? reasons.EnumerateArray().Select(r => r.GetProperty("code").GetString()!).ToList()
            : [];

    public void Dispose() => _http.Dispose();
}
