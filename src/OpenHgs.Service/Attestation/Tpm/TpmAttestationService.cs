using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Keys;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>
/// TPM-mode attestation (HGS TPM-trusted). First, outside any write transaction: find the host by its registered EK and
/// the AK activated for that EK; verify the quote over the presented nonce and that the event log replays to the
/// quoted PCRs; verify the AK's certification of the host encryption key (fixedTPM, decrypt-only); evaluate the
/// policies in force (<see cref="PolicySnapshotCache"/>); issue the health certificate for that TPM-resident key (so a
/// released transport key can only be decrypted inside that TPM). Then the commit step both modes share
/// (<see cref="AttestationCommit"/>, one group transaction) confirms that verdict — the policy version, the host and its
/// AK are still what it was reached with (<see cref="RecheckAsync"/>); records the nonce as used, so a concurrent use of
/// it loses (<c>NonceReplayed</c>; its problems take precedence, then TPM mode) — and appends the audit record. The
/// certificate leaves the service only if that transaction commits. Every refusal is a named reason, and policy failures name the policy. Refusals change
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
    AttestationCommit commit,
    TimeProvider time,
    ILogger<TpmAttestationService> logger)
{
    /// <summary>Largest event log accepted in evidence.</summary>
    public const int MaxEventLogBytes = 256 * 1024;

    /// <summary>Decisions per attestation when the policy version, host or AK keeps changing under it.</summary>
    internal const int MaxAttempts = 3;

    private readonly HealthCertificateSigners _healthSigners = new();

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
        var decoded = TpmEvidenceChecks.Decode(evidence);
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
                var verdict = await commit.CommitAsync(
                    new AttestationCommitRequest(
                        nonce,
                        AttestationMode.Tpm,
                        tentative.Verdict,
                        tentative.Registration.HostName,
                        "ek:" + ekThumbprint,
                        evidenceDigest,
                        signer.Id,
                        s => RecheckAsync(s, decoded, tentative),
                        LastAttempt: attempt >= MaxAttempts,
                        Details: AuditDetails(tentative.Verdict)),
                    cancellationToken).ConfigureAwait(false);
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

        if (registration.Integrity is { } integrity)
        {
            AttestationService.LogHostRecordRefused(logger, integrity.HostName, integrity.Problem);
            return Decided(AttestationVerdict.Failed(version, integrity.Failure));
        }

        if (registration.HostName is null)
        {
            return Decided(Fail(AttestationFailureCode.EkNotRegistered, "No TPM host is registered with this EK."));
        }

        if (!registration.AkActivated)
        {
            return Decided(Fail(AttestationFailureCode.AkNotActivated, "This attestation key was not activated for the host's EK; run the AK activation (hgs client configure --tpm)."));
        }

        if (CheckEkRevocation(policies, registration, time.GetUtcNow()) is { } revoked)
        {
            return Decided(AttestationVerdict.Failed(version, revoked));
        }

        var evaluation = TpmEvidenceChecks.Evaluate(policies, evidence, nonce.Nonce);
        if (evaluation.Refused is { } refused)
        {
            return Decided(refused);
        }

        var (hostKey, staged) = (evaluation.HostKey!, evaluation.Staged);
        var now = time.GetUtcNow();
        var claims = new HealthClaims(AttestationMode.Tpm, version, evidenceDigest, registration.HostName, now);
        byte[] certificate = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, hostKey, validity),
            _healthSigners.For(signer));
        return Decided(new AttestationVerdict(AttestationStatus.Passed, certificate, now + validity, version, staged));
    }

    /// <summary>
    /// In the commit's transaction (the service is in TPM mode): the policy version, and the host and AK rows — locked
    /// (PostgreSQL: FOR UPDATE; SQLite: the writer lock), so a host removal or AK change cannot commit between this read
    /// and the commit, and a host removed before this attestation commits never gets its certificate.
    /// </summary>
    private async Task<RegistrationCheck> RecheckAsync(HgsSession s, DecodedTpmEvidence evidence, Tentative tentative)
    {
        int version = await PolicyService.ReadVersionAsync(s).ConfigureAwait(false);
        var registration = await ObserveAsync(s, evidence, lockRows: true).ConfigureAwait(false);
        if (BeforeCommitForTests is { } hook)
        {
            await hook().ConfigureAwait(false);
        }

        if (registration != tentative.Registration)
        {
            return RegistrationCheck.Changed(
                registration.Integrity is { } integrity ? integrity.Failure
                : registration.HostName is null
                    ? AttestationFailure.Of(AttestationFailureCode.EkNotRegistered, "No TPM host is registered with this EK.")
                    : AttestationFailure.Of(AttestationFailureCode.AkNotActivated, "This attestation key was not activated for the host's EK; run the AK activation (hgs client configure --tpm)."),
                registration.HostName);
        }

        // On the last attempt a changed policy version keeps the verdict reached under (and naming) the earlier one.
        return version != tentative.PolicyVersion ? RegistrationCheck.Superseded : RegistrationCheck.Unchanged;
    }

    /// <summary>
    /// The host's stored EK chain against the CRLs of the policy version deciding (design change 75): a certificate a CRL
    /// imported after the registration revokes refuses the attestation by name (<c>EkCertificateRevoked</c>), and a stale
    /// or unreadable CRL of a CA of the chain fails closed, exactly as registration does. A dictionary look-up per
    /// certificate: the CRLs were parsed and verified once for the version (<see cref="PolicySnapshot.EkRevocation"/>). A
    /// host without a stored chain (registered without a certificate, or before this change) is not checked; the host
    /// list and every CRL import name it.
    /// </summary>
    internal static AttestationFailure? CheckEkRevocation(PolicySnapshot policies, Registration registration, DateTimeOffset now)
    {
        if (registration.EkChain is not { Length: > 0 } stored || policies.EkRevocation.IsEmpty)
        {
            return null;
        }

        IReadOnlyList<EkRevocationLink> chain;
        try
        {
            chain = EkRevocationPath.Parse(stored);
        }
        catch (FormatException)
        {
            // MACed with the row: only a release writing another format gets here. Unreadable is not unrevoked.
            return AttestationFailure.Of(AttestationFailureCode.HostRecordIntegrity, $"The stored EK chain of host '{registration.HostName}' cannot be read; register the host again.");
        }

        return policies.EkRevocation.Check(chain, now) is { Failure: { } failure } result
            ? AttestationFailure.Of(
                failure switch
                {
                    EkCertificateFailure.Revoked => AttestationFailureCode.EkCertificateRevoked,
                    EkCertificateFailure.CrlExpired => AttestationFailureCode.EkCertificateCrlExpired,
                    _ => AttestationFailureCode.EkCertificateCrlUnavailable,
                },
                $"The TPM's EK certificate is refused ({failure}): {result.Detail}.")
            : null;
    }

    /// <summary>The TPM-specific details of an attestation's audit record: staged policies, and what refused the EK certificate (serial, CRL issuer and number) when it was.</summary>
    private static IReadOnlyList<(string Name, string? Value)> AuditDetails(AttestationVerdict verdict)
    {
        var details = new List<(string, string?)> { ("staged", string.Join(",", verdict.Failures.Where(f => f.Code == AttestationFailureCode.PolicyStaged).Select(f => f.Policy))) };
        if (verdict.Failures.FirstOrDefault(f => f.Code is AttestationFailureCode.EkCertificateRevoked or AttestationFailureCode.EkCertificateCrlExpired
            or AttestationFailureCode.EkCertificateCrlUnavailable) is { } ek)
        {
            details.Add(("ekCertificate", ek.Message));
        }

        return details;
    }

    /// <summary>The host registered with the evidence's EK (name, or null) and whether the evidence's AK is the one activated for it.</summary>
    private static async Task<Registration> ObserveAsync(HgsSession s, DecodedTpmEvidence evidence, bool lockRows = false)
    {
        try
        {
            var host = await TpmEnrollmentService.FindTpmHostOrNullAsync(s, evidence.EkPublic, lockRows).ConfigureAwait(false);
            if (host is null)
            {
                return new Registration(null, false, null);
            }

            var ak = await s.Tpm.FindAttestationKeyAsync(host, lockRows).ConfigureAwait(false);
            return new Registration(host.Record.Name, ak is not null && ak.AkPublic.AsSpan().SequenceEqual(evidence.AkPublic), null, host.Record.EkChain);
        }
        catch (RowIntegrityException ex)
        {
            // Refused as a verdict (named, audited), as for a host-key host: never used, never a bare error.
            return new Registration(ex.Key, false, new RegistrationIntegrity(ex.Key, RowIntegrityProblems.WhatHappened(ex), RowIntegrityProblems.ToRefusal(ex).Message));
        }
    }

    /// <summary>
    /// What the verdict depends on of the host's registration: today's in-transaction checks read exactly this. A host
    /// or AK row that fails its integrity check is <paramref name="Integrity"/>, and refuses the attestation;
    /// <paramref name="EkChain"/> is the host's stored EK chain (<see cref="EkRevocationPath"/>), checked against the CRLs.
    /// </summary>
    internal sealed record Registration(string? HostName, bool AkActivated, RegistrationIntegrity? Integrity, string? EkChain = null);

    /// <summary>A host or AK row that fails its integrity check: what happened to it, and the refusal that says so.</summary>
    internal sealed record RegistrationIntegrity(string HostName, string Problem, string Refusal)
    {
        public AttestationFailure Failure => AttestationFailure.Of(AttestationFailureCode.HostRecordIntegrity, Refusal);
    }

    /// <summary>A verdict reached outside the transaction, the policy version it was reached under, and the registration it saw.</summary>
    private sealed record Tentative(AttestationVerdict Verdict, int PolicyVersion, Registration Registration);

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
