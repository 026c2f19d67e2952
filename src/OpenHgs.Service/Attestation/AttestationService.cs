using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Service.Attestation;

/// <summary>
/// Challenge–response attestation. Nonces are 256-bit, stored by hash, single-use across every node that
/// shares the database, and expire after <see cref="NonceLifetime"/>. The evidence is checked and the health
/// certificate signed (in the key store) first, outside any write transaction — after a read that the nonce is issued,
/// unused and unexpired, so a replayed body is never verified nor signed; then one transaction consumes the
/// nonce, re-reads the host and writes the audit record. The certificate leaves the service only if that
/// transaction commits with the nonce valid and the host still registered; otherwise it is discarded.
/// </summary>
/// <remarks>
/// Signing before the transaction keeps the key store's work out of the database's write lock (SQLite admits one
/// writer per database), so attestations of several hosts sign in parallel while one commits. The verdict is the
/// same as deciding everything in the transaction: nonce problems win over everything else, as before.
/// </remarks>
public sealed partial class AttestationService(
    IHgsDatabase database,
    FabricKeyManager keys,
    SettingsService settings,
    TpmAttestationService tpm,
    TimeProvider time,
    ILogger<AttestationService> logger)
{
    public static readonly TimeSpan NonceLifetime = TimeSpan.FromMinutes(5);
    private const int NonceBytes = 32;
    private long _challenges;

    public async Task<ChallengeResponse> ChallengeAsync(CancellationToken cancellationToken)
    {
        byte[] nonce = RandomNumberGenerator.GetBytes(NonceBytes);
        var now = time.GetUtcNow();
        var expiresAt = now + NonceLifetime;
        bool purge = Interlocked.Increment(ref _challenges) % 256 == 0;
        await database.InTransactionAsync(async s =>
        {
            await s.Nonces.AddAsync(NonceHash(nonce), expiresAt).ConfigureAwait(false);
            return purge ? await s.Nonces.PurgeExpiredAsync(now).ConfigureAwait(false) : 0;
        }, cancellationToken).ConfigureAwait(false);
        return new ChallengeResponse(Base64Url.EncodeToString(nonce), expiresAt);
    }

    public async Task<AttestationVerdict> AttestAsync(AttestRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.HostKey is not null && request.Tpm is not null)
        {
            throw ServiceException.BadRequest(nameof(AttestationFailureCode.EvidenceMissing), "The request carries both 'hostKey' and 'tpm' evidence; send exactly one.");
        }

        if (request.Tpm is not null)
        {
            return await tpm.AttestAsync(DecodeNonce(request.Nonce), request.Tpm, cancellationToken).ConfigureAwait(false);
        }

        var current = await settings.GetAsync(cancellationToken).ConfigureAwait(false);
        var evidence = request.HostKey
            ?? throw ServiceException.BadRequest(nameof(AttestationFailureCode.EvidenceMissing), "The request carries no evidence (expected 'hostKey' or 'tpm').");
        byte[] nonce = DecodeNonce(request.Nonce);
        byte[] signingKey = DecodeBase64(evidence.SigningPublicKey, "hostKey.signingPublicKey");
        byte[] encryptionKey = DecodeBase64(evidence.EncryptionPublicKey, "hostKey.encryptionPublicKey");
        byte[] signature = DecodeBase64(evidence.Signature, "hostKey.signature");
        byte[] message = HostKeyEvidenceMessage.Build(nonce, encryptionKey);
        byte[] evidenceDigest = EvidenceDigest(message, signingKey, signature);
        string thumbprint = HostKeys.Thumbprint(signingKey);
        var snapshot = await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var signer = snapshot.Primary(FabricKeyRole.AttestationSigner);

        try
        {
            var tentative = await DecideAsync(current, nonce, thumbprint, signingKey, encryptionKey, message, signature, evidenceDigest, signer, cancellationToken).ConfigureAwait(false);
            var verdict = await database.InTransactionAsync(async s =>
            {
                var (verdict, hostName) = await ConfirmAsync(s, current.PolicyVersion, nonce, thumbprint, tentative).ConfigureAwait(false);
                await s.Audit.AppendAsync(AuditRecord.Create(
                    AuditEvents.Attestation,
                    verdict.Passed ? AuditOutcomes.Success : AuditOutcomes.Refused,
                    hostName ?? "key:" + thumbprint,
                    verdict.Passed ? null : string.Join(",", verdict.Failures.Select(f => f.Code)),
                    ("mode", "host-key"),
                    ("status", verdict.Status.ToString()),
                    ("evidenceDigest", Convert.ToHexStringLower(evidenceDigest)),
                    ("policyVersion", current.PolicyVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    ("signerKey", signer.Id),
                    ("certificateSha256", verdict.HealthCertificate is null ? null : Convert.ToHexStringLower(SHA256.HashData(verdict.HealthCertificate))))).ConfigureAwait(false);
                return verdict;
            }, cancellationToken).ConfigureAwait(false);
            LogAttestation(logger, thumbprint, verdict.Status);
            return verdict;
        }
        catch (DatabaseUnavailableException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }
    }

    /// <summary>The verdict on the evidence alone (the nonce only read, not consumed): nonce, mode, registered host, signature, key; signs the certificate if all pass.</summary>
    private async Task<Tentative> DecideAsync(
        CurrentSettings current, byte[] nonce, string thumbprint, byte[] signingKey, byte[] encryptionKey,
        byte[] message, byte[] signature, byte[] evidenceDigest, FabricKey signer, CancellationToken cancellationToken)
    {
        int policy = current.PolicyVersion;
        if (await CheckNonceAsync(database, time, nonce, cancellationToken).ConfigureAwait(false) is { } nonceFailure)
        {
            return new(AttestationVerdict.Failed(policy, nonceFailure), null);   // no signature for a replayed body
        }

        if (current.Mode != AttestationMode.HostKey)
        {
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.ModeMismatch, "The service attests in TPM mode; host-key evidence is not accepted.")), null);
        }

        HostRecord? host;
        try
        {
            host = await database.ReadAsync(s => s.Hosts.FindByThumbprintAsync(thumbprint), cancellationToken).ConfigureAwait(false);
        }
        catch (RowIntegrityException ex)
        {
            LogHostRecordRefused(logger, ex.Key);
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.HostRecordIntegrity,
                $"The host registered with the signing key {thumbprint} was changed outside OpenHGS (its record's MAC does not verify); an admin must remove and re-register it.")), null);
        }

        if (host is null || host.Mode != HostRegistry.HostKeyMode)
        {
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.HostKeyNotRegistered, $"No host is registered with the signing key {thumbprint}.")), null);
        }

        if (!HostKeys.VerifySignature(signingKey, message, signature))
        {
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.SignatureInvalid, "The evidence signature does not verify with the registered host key.")), host);
        }

        try
        {
            HostKeys.Validate(encryptionKey, "hostKey.encryptionPublicKey", forSigning: false);
        }
        catch (ServiceException ex)
        {
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.EncryptionKeyUnsupported, ex.Message)), host);
        }

        var now = time.GetUtcNow();
        var claims = new HealthClaims(AttestationMode.HostKey, policy, evidenceDigest, host.Name, now);
        byte[] certificate = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, encryptionKey, current.Validity),
            signer.Certificate,
            X509SignatureGenerator.CreateForECDsa(signer.ECDsa));
        return new(new AttestationVerdict(AttestationStatus.Passed, certificate, now + current.Validity, policy, []), host);
    }

    /// <summary>
    /// In the write transaction: consumes the nonce (its problems take precedence, as they always did), and keeps a
    /// passing verdict only if the same host is still registered — a host removed meanwhile gets no certificate.
    /// </summary>
    private async Task<(AttestationVerdict Verdict, string? HostName)> ConfirmAsync(HgsSession s, int policy, byte[] nonce, string thumbprint, Tentative tentative)
    {
        var expiresAt = await s.Nonces.ConsumeAsync(NonceHash(nonce)).ConfigureAwait(false);
        if (NonceFailure(expiresAt, time.GetUtcNow()) is { } nonceFailure)
        {
            return (AttestationVerdict.Failed(policy, nonceFailure), null);
        }

        if (tentative.Verdict.Passed)
        {
            HostRecord? host;
            try
            {
                host = await s.Hosts.FindByThumbprintAsync(thumbprint).ConfigureAwait(false);
            }
            catch (RowIntegrityException)
            {
                host = null;
            }

            if (host is null || host.Name != tentative.Host!.Name || host.Mode != HostRegistry.HostKeyMode)
            {
                return (AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.HostKeyNotRegistered, $"No host is registered with the signing key {thumbprint}.")), null);
            }
        }

        return (tentative.Verdict, tentative.Host?.Name);
    }

    private sealed record Tentative(AttestationVerdict Verdict, HostRecord? Host);

    private static byte[] DecodeNonce(string? text)
    {
        byte[]? nonce = TryDecodeBase64Url(text);
        return nonce is { Length: NonceBytes }
            ? nonce
            : throw ServiceException.BadRequest(nameof(AttestationFailureCode.NonceMalformed), "nonce: expected the 32-byte base64url value from /attestation/v1/challenge.");
    }

    private static byte[]? TryDecodeBase64Url(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 128)
        {
            return null;
        }

        try
        {
            return Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static byte[] DecodeBase64(string? text, string field)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 8192)
        {
            throw ServiceException.BadRequest("EvidenceMalformed", $"{field}: missing or too large.");
        }

        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw ServiceException.BadRequest("EvidenceMalformed", $"{field}: not valid base64.");
        }
    }

    /// <summary>
    /// Reads (does not consume) the nonce and names its problem, if any, before any expensive check or signature: a
    /// replayed or stale body costs the service one indexed read, not a verification and an HSM signature. Only the
    /// write transaction's consumption makes a nonce used; a nonce this read finds valid can still lose that race.
    /// </summary>
    internal static async Task<AttestationFailure?> CheckNonceAsync(IHgsDatabase database, TimeProvider time, byte[] nonce, CancellationToken cancellationToken)
    {
        var expiresAt = await database.ReadAsync(s => s.Nonces.FindExpiryAsync(NonceHash(nonce)), cancellationToken).ConfigureAwait(false);
        return NonceFailure(expiresAt, time.GetUtcNow());
    }

    /// <summary>The failure for a nonce with this expiry (null: unknown or used) at <paramref name="now"/>, or null when it is usable.</summary>
    internal static AttestationFailure? NonceFailure(DateTimeOffset? expiresAt, DateTimeOffset now) =>
        expiresAt is null ? AttestationFailure.Of(AttestationFailureCode.NonceUnknown, "The nonce was never issued by this service or was already used; request a new challenge.")
        : now > expiresAt ? AttestationFailure.Of(AttestationFailureCode.NonceExpired, $"The nonce expired at {expiresAt:O}; request a new challenge.")
        : null;

    internal static string NonceHash(ReadOnlySpan<byte> nonce) => Convert.ToHexStringLower(SHA256.HashData(nonce));

    private static byte[] EvidenceDigest(byte[] message, byte[] signingKey, byte[] signature)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(message);
        hash.AppendData(signingKey);
        hash.AppendData(signature);
        return hash.GetHashAndReset();
    }

    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "Host-key attestation for key {KeyThumbprint}: {Status}")]
    private static partial void LogAttestation(ILogger logger, string keyThumbprint, AttestationStatus status);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Critical, Message = "The registration of host {HostName} fails its integrity check (changed outside OpenHGS); its attestation is refused")]
    private static partial void LogHostRecordRefused(ILogger logger, string hostName);
}
