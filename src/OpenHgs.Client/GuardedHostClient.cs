using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Client;

/// <summary>What an attestation produced: the service's verdict, and the certificate when it passed.</summary>
public sealed record AttestOutcome(AttestResponse Response, byte[]? HealthCertificate)
{
    public bool Passed => Response.Status == "Passed";
}

/// <summary>
/// What an unlock produced, all of it verified against the key protectors (<see cref="ReleasedKeyVerifier"/>): the
/// VM's current (ingress) transport key, the rolled (egress) key protector and its fresh (egress) transport key. The
/// VM opens with the first; re-sealed with the second and stored with the egress key protector, it no longer opens
/// with a key that a guardian revoked before this release ever learned. The caller owns both keys and must zero them.
/// </summary>
public sealed record UnlockOutcome(byte[] TransportKey, byte[] EgressKeyProtector, byte[] EgressTransportKey);

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
    private ChallengeResponse? _nextChallenge;

    /// <summary>A saved next challenge is used only with at least this much of its life left (evidence takes time to make; clocks differ).</summary>
    public static readonly TimeSpan NextChallengeMargin = TimeSpan.FromSeconds(30);

    public GuardedHostClient(string stateDirectory, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(stateDirectory);
        _stateDirectory = stateDirectory;
        _configuration = ClientConfiguration.Load(stateDirectory);
        _attestation = new FailoverHttpClient(_configuration.AttestationUrls, tls: _configuration.Tls);
        _keyProtection = new FailoverHttpClient(_configuration.KeyProtectionUrls, tls: _configuration.Tls);
        _time = time ?? TimeProvider.System;
    }

    public string HealthCertificatePath => Path.Combine(_stateDirectory, ClientConfiguration.HealthCertificateFile);

    /// <summary>The TPM side of this host in TPM mode, else null.</summary>
    public TpmHostAgent? TpmAgent => _configuration.Tpm is { } tpm ? new TpmHostAgent(tpm, _stateDirectory) : null;

    /// <summary>
    /// Challenge → evidence (host key or TPM, as configured) → verdict; a passed verdict's certificate is saved. The
    /// challenge is the previous attestation's <see cref="AttestResponse.NextChallenge"/> while it is unexpired (one round
    /// trip per attestation), else a fresh <c>/challenge</c>; if the service refuses a saved challenge's nonce (expired by
    /// its clock, or already used), the attestation is made once more over a fresh one.
    /// </summary>
    public async Task<AttestOutcome> AttestAsync(CancellationToken cancellationToken)
    {
        var saved = TakeNextChallenge();
        var outcome = await SubmitAsync(BuildEvidence(saved ?? await ChallengeAsync(cancellationToken).ConfigureAwait(false)), cancellationToken).ConfigureAwait(false);
        if (saved is not null && outcome.Response.Reasons is [{ Code: "NonceExpired" or "NonceReplayed" or "NonceUnknown" }])
        {
            var fresh = TakeNextChallenge() ?? await ChallengeAsync(cancellationToken).ConfigureAwait(false);
            outcome = await SubmitAsync(BuildEvidence(fresh), cancellationToken).ConfigureAwait(false);
        }

        return outcome;
    }

    /// <summary>The saved next challenge if it has at least <see cref="NextChallengeMargin"/> left, else null; either way it is no longer saved (single use).</summary>
    private ChallengeResponse? TakeNextChallenge() =>
        Interlocked.Exchange(ref _nextChallenge, null) is { } next && next.ExpiresAt - NextChallengeMargin > _time.GetUtcNow() ? next : null;

    public Task<ChallengeResponse> ChallengeAsync(CancellationToken cancellationToken) =>
        _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/challenge", null, WireJson.Default.AttestRequest, WireJson.Default.ChallengeResponse, cancellationToken);

    /// <summary>The evidence for <paramref name="challenge"/>: host-key signature, or TPM quote + certify + event log.</summary>
    /// <remarks>
    /// <paramref name="quotedBanks"/> overrides the PCR banks quoted (negative tests only; by default every bank the TPM
    /// implements); <paramref name="hostKeyTemplate"/> certifies an unsaved host key made from that template, given this
    /// boot's policy digest (negative tests only; see <see cref="TpmHostAgent.Attest"/>).
    /// </remarks>
    public AttestRequest BuildEvidence(ChallengeResponse challenge, IReadOnlyList<TpmAlgorithm>? quotedBanks = null,
        Func<byte[], OpenHgs.Tpm.Structures.TpmtPublic>? hostKeyTemplate = null)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        byte[] nonce = ResponseBase64.DecodeUrl(challenge.Nonce, "nonce");
        if (TpmAgent is { } agent)
        {
            byte[] log = ReadEventLog(_configuration.EventLogPath);
            return new AttestRequest(challenge.Nonce, Tpm: agent.Attest(nonce, log, AttestedPcrs.Indices(EventLogParser.Parse(log)), quotedBanks, hostKeyTemplate));
        }

        using var keys = HostKeyPair.Load(HostKeyDirectory);
        byte[] signature = keys.SignEvidence(nonce); // ES256, ES384 or RS256, as the key requires (HostSigningKeys)
        return new AttestRequest(challenge.Nonce, new HostKeyEvidence(
            Convert.ToBase64String(keys.SigningPublicKey), Convert.ToBase64String(keys.EncryptionPublicKey), Convert.ToBase64String(signature)));
    }

    /// <summary>Sends evidence; saves the health certificate when the verdict is Passed, and the verdict's next challenge (in memory) for the next attestation.</summary>
    public async Task<AttestOutcome> SubmitAsync(AttestRequest request, CancellationToken cancellationToken)
    {
        var response = await _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/attest", request, WireJson.Default.AttestRequest, WireJson.Default.AttestResponse, cancellationToken, 403).ConfigureAwait(false);
        Volatile.Write(ref _nextChallenge, response.NextChallenge);
        byte[]? certificate = response.HealthCertificate is null ? null : ResponseBase64.Decode(response.HealthCertificate, "healthCertificate");
        if (certificate is not null)
        {
            File.WriteAllBytes(HealthCertificatePath, certificate);
        }

        return new AttestOutcome(response, certificate);
    }

    /// <summary>
    /// TPM enrolment, after the admin registered this TPM's EK: creates the AK, then proves to the service that the AK
    /// lives in the EK's TPM (MakeCredential on the service, ActivateCredential here). The host key is made by the first
    /// attestation, bound to the boot it attests.
    /// </summary>
    public async Task<ActivationResult> ActivateTpmAsync(CancellationToken cancellationToken)
    {
        var agent = TpmAgent ?? throw new HgsClientException("ConfigurationInvalid", "This host is not configured for TPM mode (--tpm).");
        var request = agent.CreateKeys();
        var challenge = await _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/tpm/activate", request, WireJson.Default.ActivationRequest, WireJson.Default.ActivationChallenge, cancellationToken).ConfigureAwait(false);
        byte[] credential = agent.Activate(challenge);
        try
        {
            return await _attestation.SendJsonAsync(HttpMethod.Post, "attestation/v1/tpm/activate/complete", agent.Completion(credential), WireJson.Default.ActivationCompletion, WireJson.Default.ActivationResult, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(credential);
        }
    }

    /// <summary>
    /// The saved health certificate if it is still valid for a while and, in TPM mode, names the host key bound to this
    /// boot; else a fresh attestation's. After a reboot into other PCR values (other software, a kernel update) the TPM
    /// would refuse the saved certificate's key, so the host key is made again for this boot and attested.
    /// </summary>
    public async Task<byte[]> GetHealthCertificateAsync(CancellationToken cancellationToken)
    {
        byte[]? bootKey = TpmAgent is { } agent ? agent.HostKeyForThisBoot(CurrentQuotedPcrs()).ToSubjectPublicKeyInfo() : null;
        if (File.Exists(HealthCertificatePath))
        {
            byte[] saved = await File.ReadAllBytesAsync(HealthCertificatePath, cancellationToken).ConfigureAwait(false);
            using var certificate = X509CertificateLoader.LoadCertificate(saved);
            if (certificate.NotAfter.ToUniversalTime() > _time.GetUtcNow().UtcDateTime.AddMinutes(5)
                && (bootKey is null || certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(bootKey)))
            {
                return saved;
            }
        }

        var outcome = await AttestAsync(cancellationToken).ConfigureAwait(false);
        return outcome.HealthCertificate
            ?? throw new HgsClientException(outcome.Response.Status, "Attestation failed: " + string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code}: {r.Message}")));
    }

    /// <summary>
    /// Releases <paramref name="keyProtector"/>'s transport key, with the egress key protector and its transport key;
    /// nothing is returned unless every key verifies against its key protector (codes such as
    /// <c>TransportKeySignatureInvalid</c>, <c>EgressTransportKeySignatureInvalid</c>).
    /// </summary>
    public async Task<UnlockOutcome> UnlockAsync(byte[] keyProtector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keyProtector);
        byte[] certificate = await GetHealthCertificateAsync(cancellationToken).ConfigureAwait(false);
        var request = new ReleaseRequest(Convert.ToBase64String(keyProtector), Convert.ToBase64String(certificate), IncludeEgressTransportKey: true);
        var response = await _keyProtection.SendJsonAsync(HttpMethod.Post, "keyprotection/v1/release", request, WireJson.Default.ReleaseRequest, WireJson.Default.ReleaseResponse, cancellationToken).ConfigureAwait(false);
        return ReleasedKeyVerifier.Open(response, keyProtector, DecryptWithHostKey);
    }

    private byte[] DecryptWithHostKey(byte[] wrapped, RSAEncryptionPadding padding)
    {
        if (TpmAgent is { } agent)
        {
            // Inside the TPM: the host key's private half never leaves it.
            return agent.Decrypt(wrapped, padding == RSAEncryptionPadding.OaepSHA256 ? TpmAlgorithm.Sha256 : TpmAlgorithm.Sha1);
        }

        using var keys = HostKeyPair.Load(HostKeyDirectory);
        return keys.EncryptionKey.Decrypt(wrapped, padding);
    }

    /// <summary>The PCRs a quote of this boot covers (<see cref="AttestedPcrs.Indices"/> of the current event log).</summary>
    private IReadOnlyList<int> CurrentQuotedPcrs() => AttestedPcrs.Indices(EventLogParser.Parse(ReadEventLog(_configuration.EventLogPath)));

    private string HostKeyDirectory => _configuration.HostKeyDirectory
        ?? throw new HgsClientException("ConfigurationInvalid", "This host is configured for TPM mode; it has no host-key folder.");

    /// <summary>Reads the TCG event log (binary_bios_measurements is a pseudo-file: its length is unknown until read).</summary>
    public static byte[] ReadEventLog(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new HgsClientException("EventLogMissing", $"The event log '{path}' does not exist (is securityfs mounted and the TPM driver loaded?).");
        }

        using var stream = File.OpenRead(path);
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + read > EventLogParser.MaxLogSize)
            {
                throw new HgsClientException("EventLogTooLarge", $"The event log '{path}' is larger than {EventLogParser.MaxLogSize} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    public void Dispose()
    {
        _attestation.Dispose();
        _keyProtection.Dispose();
    }
}
