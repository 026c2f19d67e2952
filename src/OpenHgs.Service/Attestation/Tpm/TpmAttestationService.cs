using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Policies;
using OpenHgs.Storage;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// TPM-mode attestation (HGS TPM-trusted). First, outside any write transaction: find the host by its registered EK and
/// the AK activated for that EK; verify the quote over the presented nonce and that the event log replays to the
/// quoted PCRs; verify the AK's certification of the host encryption key (fixedTPM, decrypt-only); evaluate the
/// policies in force (<see cref="PolicySnapshotCache"/>); issue the health certificate for that TPM-resident key (so a
/// released transport key can only be decrypted inside that TPM). Then one transaction confirms that verdict — the
/// policy version, the host and its AK are still what it was reached with; records the nonce as used, so a concurrent
/// use of it loses (<c>NonceReplayed</c>; its problems take precedence, then TPM mode, as before) — and appends the
/// audit record: one durable commit per attestation. The certificate leaves the service only if
/// that transaction commits. Every refusal is a named reason, and policy failures name the policy. Refusals change
/// nothing but the (used) nonce and the audit trail. The nonce was decoded, MAC-checked and expiry-checked by
/// <see cref="AttestationChallenges.Open"/> and is read for prior use before any check here.
/// </summary>
/// <remarks>
/// The verdict is the one the checks would reach inside the transaction: when the policy version, the host or its AK
/// changed between the checks and the transaction, the transaction writes nothing (the nonce stays unused) and the
/// checks run again, at most <see cref="MaxAttempts"/> times; see docs/tpm-attestation.md ("Where the checks run").
/// </remarks>
public sealed partial class TpmAttestationService(
    IHgsDatabase database,
    FabricKeyManager keys,
    SettingsService settings,
    PolicySnapshotCache policies,
    AttestationChallenges challenges,
    TimeProvider time,
    ILogger<TpmAttestationService> logger)
{
    /// <summary>Largest event log accepted in evidence.</summary>
    public const int MaxEventLogBytes = 256 * 1024;

    /// <summary>Decisions per attestation when the policy version, host or AK keeps changing under it.</summary>
    internal const int MaxAttempts = 3;

    /// <summary>
    /// Test seam, null (off) by default: awaited in the final transaction after the host and AK were re-read and locked,
    /// before the nonce is recorded as used and the transaction commits (to change the registration concurrently in tests).
    /// </summary>
    public Func<Task>? BeforeCommitForTests { get; set; }

    /// <summary>Attests <paramref name="evidence"/> made over <paramref name="nonce"/> (opened, not yet checked for prior use).</summary>
    public async Task<AttestationVerdict> AttestAsync(OpenedNonce nonce, TpmEvidence evidence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(evidence);
        var decoded = Decode(evidence);
        byte[] evidenceDigest = Digest(nonce.Nonce, decoded);
        var signer = (await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false)).Primary(FabricKeyRole.AttestationSigner);
        string ekThumbprint = TpmEvidenceParsing.EkThumbprint(decoded.EkPublic);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                var current = await settings.GetAsync(cancellationToken).ConfigureAwait(false);
                var snapshot = await policies.GetAsync(current.PolicyVersion, cancellationToken).ConfigureAwait(false);
                if (snapshot.Version != current.PolicyVersion)
                {
                    settings.Invalidate();   // the cached settings name an older version than the database
                }

                var tentative = await DecideAsync(snapshot, nonce, decoded, evidenceDigest, current.Validity, signer, cancellationToken).ConfigureAwait(false);
                bool lastAttempt = attempt >= MaxAttempts;
                var verdict = await database.InTransactionAsync(async s =>
                {
                    var confirmed = await ConfirmAsync(s, nonce, decoded, tentative, lastAttempt).ConfigureAwait(false);
                    if (confirmed is not var (verdict, hostName))
                    {
                        return null;   // decided on superseded state: nothing written, decide again
                    }

                    await s.Audit.AppendAsync(AuditRecord.Create(
                        AuditEvents.Attestation,
                        verdict.Passed ? AuditOutcomes.Success : AuditOutcomes.Refused,
                        hostName ?? "ek:" + ekThumbprint,
                        verdict.Passed ? null : string.Join(",", verdict.Failures.Select(f => f.Policy ?? f.Code.ToString())),
                        ("mode", AttestationModeNames.Tpm),
                        ("status", verdict.Status.ToString()),
                        ("evidenceDigest", Convert.ToHexStringLower(evidenceDigest)),
                        ("policyVersion", verdict.PolicyVersion.ToString(CultureInfo.InvariantCulture)),
                        ("staged", string.Join(",", verdict.Failures.Where(f => f.Code == AttestationFailureCode.PolicyStaged).Select(f => f.Policy))),
                        ("signerKey", signer.Id),
                        ("certificateSha256", verdict.HealthCertificate is null ? null : Convert.ToHexStringLower(SHA256.HashData(verdict.HealthCertificate))))).ConfigureAwait(false);
                    return verdict;
                }, cancellationToken).ConfigureAwait(false);
                if (verdict is null)
                {
                    settings.Invalidate();
                    LogDecidedAgain(logger, ekThumbprint, attempt);
                    continue;
                }

                LogAttestation(logger, ekThumbprint, verdict.Status, string.Join(",", verdict.Failures.Select(f => f.Policy ?? f.Code.ToString())));
                return verdict;
            }
        }
        catch (DatabaseUnavailableException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }
    }

    /// <summary>
    /// The verdict on the evidence alone, under <paramref name="policies"/> (the nonce not recorded as used, mode not checked yet):
    /// registered EK and AK, event log, quote over <paramref name="nonce"/>, host key certification, policies; signs the
    /// certificate if all pass. Records what it saw of the host and AK, for <see cref="ConfirmAsync"/> to compare.
    /// </summary>
    private async Task<Tentative> DecideAsync(
        PolicySnapshot policies, OpenedNonce nonce, DecodedTpmEvidence evidence, byte[] evidenceDigest, TimeSpan validity, FabricKey signer, CancellationToken cancellationToken)
    {
        int version = policies.Version;
        AttestationVerdict Fail(AttestationFailureCode code, string message) => AttestationVerdict.Failed(version, AttestationFailure.Of(code, message));

        var registration = await database.ReadAsync(s => ObserveAsync(s, evidence), cancellationToken).ConfigureAwait(false);
        Tentative Decided(AttestationVerdict verdict) => new(verdict, version, registration);
        if (await challenges.CheckAsync(nonce, cancellationToken).ConfigureAwait(false) is { } nonceFailure)
        {
            return Decided(AttestationVerdict.Failed(version, nonceFailure));   // no checks nor signature for a replayed body
        }

        if (registration.HostName is null)
        {
            return Decided(Fail(AttestationFailureCode.EkNotRegistered, "No TPM host is registered with this EK."));
        }

        if (!registration.AkActivated)
        {
            return Decided(Fail(AttestationFailureCode.AkNotActivated, "This attestation key was not activated for the host's EK; run the AK activation (hgs client configure --tpm)."));
        }

        EventLog log;
        try
        {
            log = EventLogParser.Parse(evidence.EventLog);
        }
        catch (EventLogFormatException ex)
        {
            return Decided(Fail(AttestationFailureCode.EventLogMalformed, "The event log does not parse: " + ex.Message));
        }

        if (!TpmEvidenceChecks.TryReplay(log, out var replayed, out var failure))
        {
            return Decided(AttestationVerdict.Failed(version, failure));
        }

        failure = TpmEvidenceChecks.VerifyQuote(evidence, nonce.Nonce, log, replayed, out var policyBank) ?? TpmEvidenceChecks.VerifyHostKey(evidence, nonce.Nonce);
        if (failure is not null)
        {
            return Decided(AttestationVerdict.Failed(version, failure));
        }

        byte[] hostKey;
        try
        {
            hostKey = evidence.HostKey.ToSubjectPublicKeyInfo(); // written, not imported and exported
            HostKeys.Validate(hostKey, "tpm.hostKeyPublic", forSigning: false);
        }
        catch (Exception ex) when (ex is ServiceException or CryptographicException)
        {
            return Decided(Fail(AttestationFailureCode.EncryptionKeyUnsupported, ex.Message));
        }

        var outcomes = policies.Evaluate(new PolicyEvidence(log, replayed.Values[policyBank], log.GetSecureBootState(), policies.Baselines, policyBank));
        var failed = outcomes.Where(o => !o.Result.Passed).ToList();
        var enforced = failed.Where(o => o.State == PolicyState.Enabled)
            .Select(o => AttestationFailure.Of(AttestationFailureCode.PolicyFailed, $"{o.Name}: {o.Result.Message}") with
            {
                Status = AttestationStatus.InsecureHostConfiguration,
                Policy = o.Name,
            }).ToList();
        var staged = failed.Where(o => o.State == PolicyState.Staged)
            .Select(o => new AttestationFailure(AttestationFailureCode.PolicyStaged, AttestationStatus.Passed, $"{o.Name} (staged, not enforced): {o.Result.Message}", Recoverable: true, o.Name))
            .ToList();
        if (enforced.Count > 0)
        {
            return Decided(AttestationVerdict.Failed(version, [.. enforced, .. staged]));
        }

        var now = time.GetUtcNow();
        var claims = new HealthClaims(AttestationMode.Tpm, version, evidenceDigest, registration.HostName, now);
        byte[] certificate = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, hostKey, validity),
            signer.Certificate,
            X509SignatureGenerator.CreateForECDsa(signer.ECDsa));
        return Decided(new AttestationVerdict(AttestationStatus.Passed, certificate, now + validity, version, staged));
    }

    /// <summary>
    /// In the write transaction. Returns null, having written nothing, when the verdict was reached under a policy
    /// version, host or AK that is no longer the database's (unless <paramref name="lastAttempt"/>). Otherwise records
    /// the nonce as used — its problems take precedence, then the mode, as when every check ran here — and returns the verdict
    /// with the host name for the audit record.
    /// </summary>
    private async Task<(AttestationVerdict Verdict, string? HostName)?> ConfirmAsync(
        HgsSession s, OpenedNonce nonce, DecodedTpmEvidence evidence, Tentative tentative, bool lastAttempt)
    {
        int version = await PolicyService.ReadVersionAsync(s).ConfigureAwait(false);
        string? mode = await s.Settings.GetAsync(SettingNames.Mode).ConfigureAwait(false);
        bool tpmMode = mode == AttestationModeNames.Tpm;
        // Locked (PostgreSQL: FOR UPDATE; SQLite: the writer lock): a host removal or AK change cannot commit between
        // this read and the commit, so a host removed before this attestation commits never gets its certificate.
        var registration = tpmMode ? await ObserveAsync(s, evidence, lockRows: true).ConfigureAwait(false) : tentative.Registration;
        if (BeforeCommitForTests is { } hook)
        {
            await hook().ConfigureAwait(false);
        }

        bool superseded = version != tentative.PolicyVersion || registration != tentative.Registration;
        if (superseded && !lastAttempt)
        {
            return null;
        }

        // On the last attempt a changed policy version keeps the verdict reached under (and naming) the earlier one.
        version = tentative.PolicyVersion;
        AttestationVerdict Fail(AttestationFailureCode code, string message) => AttestationVerdict.Failed(version, AttestationFailure.Of(code, message));
        if (await challenges.TryMarkUsedAsync(s, nonce).ConfigureAwait(false) is { } nonceFailure)
        {
            return (AttestationVerdict.Failed(version, nonceFailure), null);
        }

        if (!tpmMode)
        {
            return (Fail(AttestationFailureCode.ModeMismatch, "The service attests in host-key mode; TPM evidence is not accepted."), null);
        }

        if (registration != tentative.Registration && tentative.Verdict.Passed)
        {
            // Last attempt, and the host or its AK changed since the checks: no certificate for a registration that is gone.
            return registration.HostName is null
                ? (Fail(AttestationFailureCode.EkNotRegistered, "No TPM host is registered with this EK."), null)
                : (Fail(AttestationFailureCode.AkNotActivated, "This attestation key was not activated for the host's EK; run the AK activation (hgs client configure --tpm)."), registration.HostName);
        }

        return (tentative.Verdict, tentative.Registration.HostName);
    }

    /// <summary>The host registered with the evidence's EK (name, or null) and whether the evidence's AK is the one activated for it.</summary>
    private static async Task<Registration> ObserveAsync(HgsSession s, DecodedTpmEvidence evidence, bool lockRows = false)
    {
        var host = await TpmEnrollmentService.FindTpmHostOrNullAsync(s, evidence.EkPublic, lockRows).ConfigureAwait(false);
        if (host is null)
        {
            return new Registration(null, false);
        }

        var ak = await s.Tpm.FindAttestationKeyAsync(host.Name, lockRows).ConfigureAwait(false);
        return new Registration(host.Name, ak is not null && ak.AkPublic.AsSpan().SequenceEqual(evidence.AkPublic));
    }

    /// <summary>What the verdict depends on of the host's registration: today's in-transaction checks read exactly this.</summary>
    private sealed record Registration(string? HostName, bool AkActivated);

    /// <summary>A verdict reached outside the transaction, the policy version it was reached under, and the registration it saw.</summary>
    private sealed record Tentative(AttestationVerdict Verdict, int PolicyVersion, Registration Registration);

    private static DecodedTpmEvidence Decode(TpmEvidence e)
    {
        var (_, ek) = TpmEvidenceParsing.Public(e.EkPublic, "tpm.ekPublic");
        var (ak, akBytes) = TpmEvidenceParsing.Public(e.AkPublic, "tpm.akPublic");
        var (hostKey, _) = TpmEvidenceParsing.Public(e.HostKeyPublic, "tpm.hostKeyPublic");
        if (hostKey.Rsa is null)
        {
            throw ServiceException.BadRequest("EvidenceMalformed", "tpm.hostKeyPublic: the host encryption key must be RSA.");
        }

        return new DecodedTpmEvidence(
            ek,
            ak,
            akBytes,
            TpmEvidenceParsing.Bytes(e.Quote, "tpm.quote", 2048),
            TpmEvidenceParsing.Bytes(e.QuoteSignature, "tpm.quoteSignature", 1024),
            hostKey,
            e.Certify is null ? null : TpmEvidenceParsing.Bytes(e.Certify, "tpm.certify", 2048),
            e.CertifySignature is null ? null : TpmEvidenceParsing.Bytes(e.CertifySignature, "tpm.certifySignature", 1024),
            TpmEvidenceParsing.Bytes(e.EventLog, "tpm.eventLog", MaxEventLogBytes));
    }

    private static byte[] Digest(byte[] nonce, DecodedTpmEvidence e)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        foreach (var part in new[] { nonce, e.EkPublic, e.AkPublic, e.Quote, e.QuoteSignature, e.HostKey.ToBytes(), e.Certify ?? [], e.CertifySignature ?? [], e.EventLog })
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, part.Length);
            hash.AppendData(length);
            hash.AppendData(part);
        }

        return hash.GetHashAndReset();
    }

    [LoggerMessage(EventId = 1411, Level = LogLevel.Information, Message = "TPM attestation for EK {EkThumbprint}: policy version, host or AK changed during attempt {Attempt}; deciding again")]
    private static partial void LogDecidedAgain(ILogger logger, string ekThumbprint, int attempt);

    [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "TPM attestation for EK {EkThumbprint}: {Status} {Reasons}")]
    private static partial void LogAttestation(ILogger logger, string ekThumbprint, AttestationStatus status, string reasons);
}
