using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Client;

/// <summary>What an attestation produced: the service's verdict, and the certificate when it passed.</summary>
public sealed record AttestOutcome(AttestResponse Response, byte[]? HealthCertificate)
{
    public bool Passed => Response.Status == "Passed";
}

/// <summary>What an unlock produced. The caller owns <see cref="TransportKey"/> and must zero it.</summary>
public sealed record UnlockOutcome(byte[] TransportKey, byte[] EgressKeyProtector);

/// <summary>
/// The guarded host's side of OpenHGS (HGS client): attest with the host key to obtain a health certificate,
/// then exchange key protectors for transport keys. Talks to every configured URL with failover.
/// </summary>
public sealed class GuardedHostClient : IDisposable
{
    private readonly string _stateDirectory;
    private readonly ClientConfiguration _configuration;
    private readonly FailoverHttpClient _attestation;
    private readonly FailoverHttpClient _keyProtection;
    private readonly TimeProvider _time;

    public GuardedHostClient(string stateDirectory, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(stateDirectory);
        _stateDirectory = stateDirectory;
        _configuration = ClientConfiguration.Load(stateDirectory);
        _attestation = new FailoverHttpClient(_configuration.AttestationUrls);
        _keyProtection = new FailoverHttpClient(_configuration.KeyProtectionUrls);
        _time = time ?? TimeProvider.System;
    }

    public string HealthCertificatePath => Path.Combine(_stateDirectory, ClientConfiguration.HealthCertificateFile);

    public async Task<AttestOutcome> AttestAsync(CancellationToken cancellationToken)
    {
        using var keys = HostKeyPair.Load(_configuration.HostKeyDirectory);
        var challenge = await _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/challenge", null, WireJson.Default.AttestRequest, WireJson.Default.ChallengeResponse, cancellationToken).ConfigureAwait(false);
        byte[] nonce = Base64Url.DecodeFromChars(challenge.Nonce);
        byte[] encryptionKey = keys.EncryptionPublicKey;
        byte[] signature = keys.SigningKey.SignData(HostKeyEvidenceMessage.Build(nonce, encryptionKey), HashAlgorithmName.SHA256);
        var request = new AttestRequest(challenge.Nonce, new HostKeyEvidence(
            Convert.ToBase64String(keys.SigningPublicKey), Convert.ToBase64String(encryptionKey), Convert.ToBase64String(signature)));
        var response = await _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/attest", request, WireJson.Default.AttestRequest, WireJson.Default.AttestResponse, cancellationToken, 403).ConfigureAwait(false);
        byte[]? certificate = response.HealthCertificate is null ? null : Convert.FromBase64String(response.HealthCertificate);
        if (certificate is not null)
        {
            File.WriteAllBytes(HealthCertificatePath, certificate);
        }

        return new AttestOutcome(response, certificate);
    }

    /// <summary>The saved health certificate if it is still valid for a while, else a fresh attestation's.</summary>
    public async Task<byte[]> GetHealthCertificateAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(HealthCertificatePath))
        {
            byte[] saved = await File.ReadAllBytesAsync(HealthCertificatePath, cancellationToken).ConfigureAwait(false);
            using var certificate = X509CertificateLoader.LoadCertificate(saved);
            if (certificate.NotAfter.ToUniversalTime() > _time.GetUtcNow().UtcDateTime.AddMinutes(5))
            {
                return saved;
            }
        }

        var outcome = await AttestAsync(cancellationToken).ConfigureAwait(false);
        return outcome.HealthCertificate
            ?? throw new HgsClientException(outcome.Response.Status, "Attestation failed: " + string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code}: {r.Message}")));
    }

    public async Task<UnlockOutcome> UnlockAsync(byte[] keyProtector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keyProtector);
        byte[] certificate = await GetHealthCertificateAsync(cancellationToken).ConfigureAwait(false);
        var request = new ReleaseRequest(Convert.ToBase64String(keyProtector), Convert.ToBase64String(certificate));
        var response = await _keyProtection.SendJsonAsync(HttpMethod.Post, "keyprotection/v1/release", request, WireJson.Default.ReleaseRequest, WireJson.Default.ReleaseResponse, cancellationToken).ConfigureAwait(false);
        var padding = response.TransportKey.Algorithm switch
        {
            "RSA-OAEP-256" => RSAEncryptionPadding.OaepSHA256,
            "RSA-OAEP" => RSAEncryptionPadding.OaepSHA1,
            _ => throw new HgsClientException("ResponseMalformed", $"Unknown transport key wrapping '{response.TransportKey.Algorithm}'."),
        };
        using var keys = HostKeyPair.Load(_configuration.HostKeyDirectory);
        byte[] transportKey = keys.EncryptionKey.Decrypt(Convert.FromBase64String(response.TransportKey.Value), padding);
        return new UnlockOutcome(transportKey, Convert.FromBase64String(response.EgressKeyProtector));
    }

    public void Dispose()
    {
        _attestation.Dispose();
        _keyProtection.Dispose();
    }
}
