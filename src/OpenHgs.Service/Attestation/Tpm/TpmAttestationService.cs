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
/// TPM-mode attestation (HGS TPM-trusted). In one transaction: consume the nonce; require TPM mode; find the host
/// by its registered EK and the AK activated for that EK; verify the quote over the nonce and that the event log
/// replays to the quoted PCRs; verify the AK's certification of the host encryption key (fixedTPM, decrypt-only);
/// evaluate the policies in force; issue the health certificate for that TPM-resident key (so a released transport key
/// can only be decrypted inside that TPM); append the audit record. Every refusal is a named reason, and policy
/// failures name the policy. Refusals change nothing but the (consumed) nonce and the audit trail.
/// </summary>
public sealed partial class TpmAttestationService(
    IHgsDatabase database,
    FabricKeyManager keys,
    SettingsService settings,
    TimeProvider time,
    ILogger<TpmAttestationService> logger)
{
    /// <summary>Largest event log accepted in evidence.</summary>
    public const int MaxEventLogBytes = 256 * 1024;

    public async Task<AttestationVerdict> AttestAsync(byte[] nonce, TpmEvidence evidence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(evidence);
        var decoded = Decode(evidence);
        byte[] evidenceDigest = Digest(nonce, decoded);
        var current = await settings.GetAsync(cancellationToken).ConfigureAwait(false);
        var signer = (await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false)).Primary(FabricKeyRole.AttestationSigner);
        string ekThumbprint = TpmEvidenceParsing.EkThumbprint(decoded.EkPublic);
        try
        {
            var verdict = await database.InTransactionAsync(async s =>
            {
                var (verdict, hostName) = await DecideAsync(s, nonce, decoded, evidenceDigest, current.Validity, signer).ConfigureAwait(false);
                await s.Audit.AppendAsync(AuditRecord.Create(
                    AuditEvents.Attestation,
                    verdict.Passed ? AuditOutcomes.Success : AuditOutcomes.Refused,
                    hostName ?? "ek:" + ekThumbprint,
                    verdict.Passed ? null : string.Join(",", verdict.Failures.Select(f => f.Policy ?? f.Code.ToString())),
                    ("mode", "tpm"),
                    ("status", verdict.Status.ToString()),
                    ("evidenceDigest", Convert.ToHexStringLower(evidenceDigest)),
                    ("policyVersion", verdict.PolicyVersion.ToString(CultureInfo.InvariantCulture)),
                    ("staged", string.Join(",", verdict.Failures.Where(f => f.Code == AttestationFailureCode.PolicyStaged).Select(f => f.Policy))),
                    ("signerKey", signer.Id),
                    ("certificateSha256", verdict.HealthCertificate is null ? null : Convert.ToHexStringLower(SHA256.HashData(verdict.HealthCertificate))))).ConfigureAwait(false);
                return verdict;
            }, cancellationToken).ConfigureAwait(false);
            LogAttestation(logger, ekThumbprint, verdict.Status, string.Join(",", verdict.Failures.Select(f => f.Policy ?? f.Code.ToString())));
            return verdict;
        }
        catch (DatabaseUnavailableException ex)
        {
            throw AuditRecord.AuditUnavailable(ex);
        }
    }

    private async Task<(AttestationVerdict Verdict, string? HostName)> DecideAsync(
        HgsSession s, byte[] nonce, DecodedTpmEvidence evidence, byte[] evidenceDigest, TimeSpan validity, FabricKey signer)
    {
        var policies = await PolicyService.LoadAsync(s).ConfigureAwait(false);
        int version = policies.Version;
        AttestationVerdict Fail(AttestationFailureCode code, string message) => AttestationVerdict.Failed(version, AttestationFailure.Of(code, message));

        var expiresAt = await s.Nonces.ConsumeAsync(AttestationService.NonceHash(nonce)).ConfigureAwait(false);
        var now = time.GetUtcNow();
        if (expiresAt is null)
        {
            return (Fail(AttestationFailureCode.NonceUnknown, "The nonce was never issued by this service or was already used; request a new challenge."), null);
        }

        if (now > expiresAt)
        {
            return (Fail(AttestationFailureCode.NonceExpired, $"The nonce expired at {expiresAt:O}; request a new challenge."), null);
        }

        if (await s.Settings.GetAsync(SettingNames.Mode).ConfigureAwait(false) != SettingsService.ModeName(AttestationMode.Tpm))
        {
            return (Fail(AttestationFailureCode.ModeMismatch, "The service attests in host-key mode; TPM evidence is not accepted."), null);
        }

        var host = await TpmEnrollmentService.FindTpmHostOrNullAsync(s, evidence.EkPublic).ConfigureAwait(false);
        if (host is null)
        {
            return (Fail(AttestationFailureCode.EkNotRegistered, "No TPM host is registered with this EK."), null);
        }

        var ak = await s.Tpm.FindAttestationKeyAsync(host.Name).ConfigureAwait(false);
        if (ak is null || !ak.AkPublic.AsSpan().SequenceEqual(evidence.AkPublic))
        {
            return (Fail(AttestationFailureCode.AkNotActivated, "This attestation key was not activated for the host's EK; run the AK activation (hgs client configure --tpm)."), host.Name);
        }

        EventLog log;
        try
        {
            log = EventLogParser.Parse(evidence.EventLog);
        }
        catch (EventLogFormatException ex)
        {
            return (Fail(AttestationFailureCode.EventLogMalformed, "The event log does not parse: " + ex.Message), host.Name);
        }

        var pcrs = AttestedPcrs.Replayed(log, AttestedPcrs.For(log));
        var failure = TpmEvidenceChecks.VerifyQuote(evidence, nonce, log, pcrs) ?? TpmEvidenceChecks.VerifyHostKey(evidence, nonce);
        if (failure is not null)
        {
            return (AttestationVerdict.Failed(version, failure), host.Name);
        }

        byte[] hostKey;
        try
        {
            using (var rsa = evidence.HostKey.ToRsa())
            {
                hostKey = rsa.ExportSubjectPublicKeyInfo();
            }

            HostKeys.Validate(hostKey, "tpm.hostKeyPublic", forSigning: false);
        }
        catch (Exception ex) when (ex is ServiceException or CryptographicException)
        {
            return (Fail(AttestationFailureCode.EncryptionKeyUnsupported, ex.Message), host.Name);
        }

        var outcomes = policies.Evaluate(new PolicyEvidence(log, pcrs, log.GetSecureBootState(), policies.Baselines));
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
            return (AttestationVerdict.Failed(version, [.. enforced, .. staged]), host.Name);
        }

        var claims = new HealthClaims(AttestationMode.Tpm, version, evidenceDigest, host.Name, now);
        byte[] certificate = HealthCertificateIssuer.Issue(
            new HealthCertificateRequest(claims, hostKey, validity),
            signer.Certificate,
            X509SignatureGenerator.CreateForECDsa(signer.ECDsa));
        return (new AttestationVerdict(AttestationStatus.Passed, certificate, now + validity, version, staged), host.Name);
    }

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

    [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "TPM attestation for EK {EkThumbprint}: {Status} {Reasons}")]
    private static partial void LogAttestation(ILogger logger, string ekThumbprint, AttestationStatus status, string reasons);
}
