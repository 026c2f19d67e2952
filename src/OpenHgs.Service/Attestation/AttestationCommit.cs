using System.Globalization;
using System.Security.Cryptography;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Storage;

namespace OpenHgs.Service.Attestation;

/// <summary>What a mode's re-read of the host's registration inside the commit found, against what its verdict saw.</summary>
public abstract record RegistrationCheck
{
    private RegistrationCheck()
    {
    }

    /// <summary>The registration (and for TPM, the policy version) is what the verdict was reached with.</summary>
    public static RegistrationCheck Unchanged { get; } = new UnchangedCheck();

    /// <summary>It changed: decide again (nothing is written), or, on the last attempt, refuse a passing verdict with <paramref name="failure"/>.</summary>
    public static RegistrationCheck Changed(AttestationFailure failure, string? hostName) => new ChangedCheck(failure, hostName);

    /// <summary>The verdict was reached on superseded state, and the change does not refuse a pass.</summary>
    public static RegistrationCheck Superseded { get; } = new SupersededCheck();

    internal sealed record UnchangedCheck : RegistrationCheck;

    internal sealed record SupersededCheck : RegistrationCheck;

    internal sealed record ChangedCheck(AttestationFailure Failure, string? HostName) : RegistrationCheck;
}

/// <summary>An attestation's verdict, reached outside any transaction, and what its commit must re-check and record.</summary>
/// <param name="Nonce">The nonce the evidence answers (opened: MAC and expiry checked).</param>
/// <param name="Mode">The mode whose evidence this is; the commit refuses it if the service's mode is another one now.</param>
/// <param name="Verdict">The tentative verdict (with its signed certificate when it passed).</param>
/// <param name="HostName">The registered host the verdict names, or null (the subject is then <paramref name="UnregisteredSubject"/>).</param>
/// <param name="UnregisteredSubject">The audit subject when no host is known (the key's or EK's thumbprint).</param>
/// <param name="EvidenceDigest">SHA-256 over the evidence, for the audit record.</param>
/// <param name="SignerKeyId">The attestation signer that signed the certificate.</param>
/// <param name="RecheckAsync">Re-reads (and on PostgreSQL locks) what the verdict depended on, in the commit's transaction.</param>
/// <param name="LastAttempt">On the last attempt a superseded verdict is kept (a changed registration still refuses a pass).</param>
/// <param name="Details">Mode-specific audit details, after the common ones.</param>
public sealed record AttestationCommitRequest(
    OpenedNonce Nonce,
    AttestationMode Mode,
    AttestationVerdict Verdict,
    string? HostName,
    string UnregisteredSubject,
    byte[] EvidenceDigest,
    string SignerKeyId,
    Func<HgsSession, Task<RegistrationCheck>> RecheckAsync,
    bool LastAttempt,
    IReadOnlyList<(string Name, string? Value)> Details);

/// <summary>
/// The one commit step of both attestation modes: in the audit writer's next group transaction (one durable commit for
/// every attestation and release that arrive together), in this order — the mode's re-read of the registration (a
/// verdict reached on superseded state writes nothing and is decided again), the nonce recorded as used (its problems
/// take precedence: <c>NonceReplayed</c> when another attestation committed it first), the service's mode read again
/// (<c>ModeMismatch</c>), a registration that changed refuses a pass, then the audit record. The certificate leaves the
/// service only once that transaction has committed.
/// </summary>
public sealed class AttestationCommit(AuditWriter audit, AttestationChallenges challenges)
{
    /// <summary>The committed verdict; null when it was superseded (nothing written: decide again).</summary>
    /// <exception cref="ServiceException"><c>AuditUnavailable</c> (503) when the transaction could not commit.</exception>
    public Task<AttestationVerdict?> CommitAsync(AttestationCommitRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return audit.CommitAsync<AttestationVerdict?>(async s =>
        {
            // The mode always has a row (ExplicitSettings): a missing or altered one fails closed, as in SettingsService.
            string mode = await s.Settings.GetRequiredAsync(SettingNames.Mode).ConfigureAwait(false);
            bool modeMatches = mode == AttestationModeNames.Of(request.Mode);
            var registration = modeMatches ? await request.RecheckAsync(s).ConfigureAwait(false) : RegistrationCheck.Unchanged;
            if (registration is not RegistrationCheck.UnchangedCheck && !request.LastAttempt)
            {
                return new(null, null);
            }

            var (verdict, hostName) = await ConfirmAsync(s, request, modeMatches, registration).ConfigureAwait(false);
            return new(verdict, Record(request, verdict, hostName));
        }, cancellationToken);
    }

    private async Task<(AttestationVerdict Verdict, string? HostName)> ConfirmAsync(
        HgsSession s, AttestationCommitRequest request, bool modeMatches, RegistrationCheck registration)
    {
        int version = request.Verdict.PolicyVersion;
        if (await challenges.TryMarkUsedAsync(s, request.Nonce).ConfigureAwait(false) is { } nonceFailure)
        {
            return (AttestationVerdict.Failed(version, nonceFailure), null);
        }

        if (!modeMatches)
        {
            return (AttestationVerdict.Failed(version, AttestationFailure.Of(AttestationFailureCode.ModeMismatch, request.Mode == AttestationMode.Tpm
                ? "The service attests in host-key mode; TPM evidence is not accepted."
                : "The service attests in TPM mode; host-key evidence is not accepted.")), null);
        }

        if (registration is RegistrationCheck.ChangedCheck changed && request.Verdict.Passed)
        {
            // The host or its key changed since the checks: no certificate for a registration that is gone.
            return (AttestationVerdict.Failed(version, changed.Failure), changed.HostName);
        }

        return (request.Verdict, request.HostName);
    }

    private static AuditEvent Record(AttestationCommitRequest request, AttestationVerdict verdict, string? hostName) => AuditRecord.Create(
        AuditEvents.Attestation,
        verdict.Passed ? AuditOutcomes.Success : AuditOutcomes.Refused,
        hostName ?? request.UnregisteredSubject,
        verdict.Passed ? null : string.Join(",", verdict.Failures.Select(f => f.Policy ?? f.Code.ToString())),
        [
            ("mode", AttestationModeNames.Of(request.Mode)),
            ("status", verdict.Status.ToString()),
            ("evidenceDigest", Convert.ToHexStringLower(request.EvidenceDigest)),
            ("policyVersion", verdict.PolicyVersion.ToString(CultureInfo.InvariantCulture)),
            .. request.Details,
            ("signerKey", request.SignerKeyId),
            ("certificateSha256", verdict.HealthCertificate is null ? null : Convert.ToHexStringLower(SHA256.HashData(verdict.HealthCertificate))),
        ]);
}
