using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Service.Attestation;

/// <summary>
/// Challenge–response attestation, one durable commit per attestation (shared with every other attestation and release
/// that arrives at the same time). Challenges are stateless (<see cref="AttestationChallenges"/>): the nonce carries its
/// expiry and a MAC, and issuing one writes nothing. At attestation, in this order: decode, MAC, expiry, a read that the
/// nonce is not used yet — so a forged, stale or replayed body is never verified nor signed — then the evidence is
/// checked and the health certificate signed (in the key store), outside any write transaction; then
/// <see cref="AttestationCommit"/> records the nonce as used (a concurrent use of the same nonce loses there,
/// <c>NonceReplayed</c>), re-reads the mode and the host and appends the audit record, in one transaction. The
/// certificate leaves the service only if that transaction commits with the nonce unused, the service still in host-key
/// mode and the host still registered; otherwise it is discarded.
/// </summary>
/// <remarks>
/// Signing before the transaction keeps the key store's work out of the database's write lock (SQLite admits one
/// writer per database), so attestations of several hosts sign in parallel while one batch commits. Nonce problems win
/// over everything else, as when every check ran in the transaction.
/// </remarks>
public sealed partial class AttestationService(
    IHgsDatabase database,
    FabricKeyManager keys,
    SettingsService settings,
    TpmAttestationService tpm,
    AttestationChallenges challenges,
    AttestationCommit commit,
    TimeProvider time,
    ILogger<AttestationService> logger)
{
    /// <summary>The largest host-key evidence field (a public key or signature), decoded: 8,192 base64 characters.</summary>
    private const int MaxEvidenceFieldBytes = 6144;

    private readonly HealthCertificateSigners _healthSigners = new();

    /// <summary>A fresh stateless challenge: nothing is written (see <see cref="AttestationChallenges"/>).</summary>
    public ChallengeResponse Challenge() => challenges.Issue();

    public async Task<AttestationVerdict> AttestAsync(AttestRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.HostKey is not null && request.Tpm is not null)
        {
            throw ServiceException.BadRequest(nameof(AttestationFailureCode.EvidenceMissing), "The request carries both 'hostKey' and 'tpm' evidence; send exactly one.");
        }

        if (request.Tpm is not null)
        {
            return await tpm.AttestAsync(challenges.Open(request.Nonce), request.Tpm, cancellationToken).ConfigureAwait(false);
        }

        var current = await settings.GetAsync(cancellationToken).ConfigureAwait(false);
        var evidence = request.HostKey
            ?? throw ServiceException.BadRequest(nameof(AttestationFailureCode.EvidenceMissing), "The request carries no evidence (expected 'hostKey' or 'tpm').");
        var opened = challenges.Open(request.Nonce);
        byte[] nonce = opened.Nonce;
        byte[] signingKey = RequestBase64.Decode(evidence.SigningPublicKey, "hostKey.signingPublicKey", MaxEvidenceFieldBytes, RequestFieldRefusals.Evidence);
        byte[] encryptionKey = RequestBase64.Decode(evidence.EncryptionPublicKey, "hostKey.encryptionPublicKey", MaxEvidenceFieldBytes, RequestFieldRefusals.Evidence);
        byte[] signature = RequestBase64.Decode(evidence.Signature, "hostKey.signature", MaxEvidenceFieldBytes, RequestFieldRefusals.Evidence);
        byte[] message = HostKeyEvidenceMessage.Build(nonce, encryptionKey);
        byte[] evidenceDigest = EvidenceDigest(message, signingKey, signature);
        string thumbprint = HostKeys.Thumbprint(signingKey);
        var snapshot = await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var signer = snapshot.Primary(FabricKeyRole.AttestationSigner);

        try
        {
            var tentative = await DecideAsync(current, opened, thumbprint, signingKey, encryptionKey, message, signature, evidenceDigest, signer, cancellationToken).ConfigureAwait(false);
            var verdict = await commit.CommitAsync(
                new AttestationCommitRequest(
                    opened,
                    AttestationMode.HostKey,
                    tentative.Verdict,
                    tentative.Host?.Name,
                    "key:" + thumbprint,
                    evidenceDigest,
                    signer.Id,
                    s => RecheckHostAsync(s, thumbprint, tentative),
                    LastAttempt: true,
                    Details: []),
                cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("A last attempt is never superseded.");
            LogAttestation(logger, thumbprint, verdict.Status);
            return verdict;
        }
        catch (DatabaseUnavailableException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }
    }

    /// <summary>The verdict on the evidence alone (the nonce only read, not recorded as used): nonce, mode, registered host, signature, key; signs the certificate if all pass.</summary>
    private async Task<Tentative> DecideAsync(
        CurrentSettings current, OpenedNonce nonce, string thumbprint, byte[] signingKey, byte[] encryptionKey,
        byte[] message, byte[] signature, byte[] evidenceDigest, FabricKey signer, CancellationToken cancellationToken)
    {
        int policy = current.PolicyVersion;
        if (await challenges.CheckAsync(nonce, cancellationToken).ConfigureAwait(false) is { } nonceFailure)
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
            LogHostRecordRefused(logger, ex.Key, RowIntegrityProblems.WhatHappened(ex));
            return new(AttestationVerdict.Failed(policy, AttestationFailure.Of(AttestationFailureCode.HostRecordIntegrity,
                $"The record of the host registered with the signing key {thumbprint} {RowIntegrityProblems.WhatHappened(ex)}; an admin must remove it (and re-register the host, if it should attest).")), null);
        }

        if (host is null || host.Mode != AttestationModeNames.HostKey)
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
            _healthSigners.For(signer));
        return new(new AttestationVerdict(AttestationStatus.Passed, certificate, now + current.Validity, policy, []), host);
    }

    /// <summary>
    /// In the commit's transaction: a passing verdict stands only if the same host is still registered with this key in
    /// host-key mode — a host removed meanwhile gets no certificate.
    /// </summary>
    private static async Task<RegistrationCheck> RecheckHostAsync(HgsSession s, string thumbprint, Tentative tentative)
    {
        if (!tentative.Verdict.Passed)
        {
            return RegistrationCheck.Unchanged;
        }

        HostRecord? host;
        try
        {
            host = await s.Hosts.FindByThumbprintAsync(thumbprint).ConfigureAwait(false);
        }
        catch (RowIntegrityException)
        {
            host = null;
        }

        return host is not null && host.Name == tentative.Host!.Name && host.Mode == AttestationModeNames.HostKey
            ? RegistrationCheck.Unchanged
            : RegistrationCheck.Changed(AttestationFailure.Of(AttestationFailureCode.HostKeyNotRegistered, $"No host is registered with the signing key {thumbprint}."), null);
    }

    private sealed record Tentative(AttestationVerdict Verdict, HostRecord? Host);

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

    [LoggerMessage(EventId = 1201, Level = LogLevel.Critical, Message = "The registration of host {HostName} fails its integrity check: it {Problem}; its attestation is refused")]
    internal static partial void LogHostRecordRefused(ILogger logger, string hostName, string problem);
}
