using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Policies;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;
using TpmFailure = OpenHgs.Tpm.Verification.AttestationFailure;

namespace OpenHgs.Service.Attestation.Tpm;

/// <summary>Decoded TPM evidence (see <see cref="Protocol.Wire.TpmEvidence"/>).</summary>
public sealed record DecodedTpmEvidence(
    byte[] EkPublic,
    TpmtPublic Ak,
    byte[] AkPublic,
    byte[] Quote,
    byte[] QuoteSignature,
    TpmtPublic HostKey,
    byte[]? Certify,
    byte[]? CertifySignature,
    byte[] EventLog);

/// <summary>A log replayed in every bank it declares: the selections a quote must cover (in the banks the TPM has active), the values.</summary>
public sealed record ReplayedLog(
    IReadOnlyList<PcrSelection> Required,
    IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> Values);

/// <summary>What <see cref="TpmEvidenceChecks.Evaluate"/> concluded: a refusal, or the host key to certify and the staged policies that failed.</summary>
public sealed record TpmEvaluation(AttestationVerdict? Refused, byte[]? HostKey, IReadOnlyList<AttestationFailure> Staged);

/// <summary>
/// The cryptographic checks of TPM evidence, each returning a named <see cref="AttestationFailure"/> or null:
/// the quote (magic, type, nonce, AK attributes, signature, PCR selection, pcrDigest == digest of the replayed log)
/// and the certification of the host encryption key by the same AK over the same nonce.
/// </summary>
public static class TpmEvidenceChecks
{
    /// <summary>The evidence's fields decoded and size-checked; a malformed one is refused (400) naming the field.</summary>
    public static DecodedTpmEvidence Decode(TpmEvidence e)
    {
        ArgumentNullException.ThrowIfNull(e);
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
            TpmEvidenceParsing.Bytes(e.EventLog, "tpm.eventLog", TpmAttestationService.MaxEventLogBytes));
    }

    /// <summary>
    /// Everything a TPM attestation decides from the evidence alone, without the database or the key store — the event
    /// log parsed and replayed in every declared bank, the quote over <paramref name="nonce"/>, the AK's certification of
    /// the host key, the host key's type, and <paramref name="policies"/> — in that order, stopping at the first
    /// refusal. Pure: the service calls it before its commit, and the bench times it (TpmStageBench).
    /// </summary>
    public static TpmEvaluation Evaluate(PolicySnapshot policies, DecodedTpmEvidence evidence, byte[] nonce)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(nonce);
        int version = policies.Version;
        TpmEvaluation Refuse(params AttestationFailure[] failures) => new(AttestationVerdict.Failed(version, failures), null, []);

        // Activation refuses such an AK; this refuses one activated before it did.
        if (!TpmEvidenceParsing.IsAcceptedNameAlg(evidence.Ak.NameAlg))
        {
            return Refuse(AttestationFailure.Of(AttestationFailureCode.AkNameAlgRejected, TpmEvidenceParsing.NameAlgRefusal("AK", evidence.Ak)));
        }

        EventLog log;
        try
        {
            log = EventLogParser.Parse(evidence.EventLog);
        }
        catch (EventLogFormatException ex)
        {
            return Refuse(AttestationFailure.Of(AttestationFailureCode.EventLogMalformed, "The event log does not parse: " + ex.Message));
        }

        if (!TryReplay(log, out var replayed, out var failure))
        {
            return Refuse(failure);
        }

        failure = VerifyQuote(evidence, nonce, log, replayed, out var policyBank) ?? VerifyHostKey(evidence, nonce, Boot(replayed, policyBank));
        if (failure is not null)
        {
            return Refuse(failure);
        }

        byte[] hostKey;
        try
        {
            hostKey = evidence.HostKey.ToSubjectPublicKeyInfo(); // written, not imported and exported
            HostKeys.Validate(hostKey, "tpm.hostKeyPublic", forSigning: false);
        }
        catch (Exception ex) when (ex is ServiceException or CryptographicException)
        {
            return Refuse(AttestationFailure.Of(AttestationFailureCode.EncryptionKeyUnsupported, ex.Message));
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
        return enforced.Count > 0 ? Refuse([.. enforced, .. staged]) : new TpmEvaluation(null, hostKey, staged);
    }

    /// <summary>
    /// Replays the log in every bank it declares. Refuses <see cref="AttestationFailureCode.PcrBankUnsupported"/> when a
    /// declared bank cannot be replayed here (it could not be checked against the quote) or the log declares neither bank
    /// policies read (SHA-256, SHA-1).
    /// </summary>
    public static bool TryReplay(EventLog log, [NotNullWhen(true)] out ReplayedLog? replayed, [NotNullWhen(false)] out AttestationFailure? failure)
    {
        replayed = null;
        failure = null;
        var unsupported = log.Banks.Where(b => !b.CanHash()).Select(b => b.Name()).ToList();
        if (unsupported.Count > 0)
        {
            failure = AttestationFailure.Of(AttestationFailureCode.PcrBankUnsupported,
                $"The event log declares the {string.Join(",", unsupported)} bank(s), which this service cannot replay; they could not be checked against the quote.");
            return false;
        }

        if (AttestedPcrs.PolicyBank(log) is null)
        {
            failure = AttestationFailure.Of(AttestationFailureCode.PcrBankUnsupported,
                $"The event log declares neither SHA-256 nor SHA-1 (only {string.Join(",", log.Banks.Select(b => b.Name()))}); policies read one of those.");
            return false;
        }

        var required = AttestedPcrs.ForEveryBank(log);
        replayed = new ReplayedLog(required, required.ToDictionary(s => s.Hash, s => (IReadOnlyDictionary<int, byte[]>)AttestedPcrs.Replayed(log, s)));
        return true;
    }

    /// <summary>
    /// The quote over <paramref name="nonce"/>: signature; the bank rule (SHA-1, SHA-256 and every bank the log declares
    /// selected; every bank the TPM signed as active declared by the log); the PCRs of every active bank selected; and
    /// pcrDigest == the digest of the log's replay in every active bank. On success <paramref name="policyBank"/> is the
    /// bank policies read: SHA-256 if the TPM has it active, else SHA-1 (refused <see cref="AttestationFailureCode.PcrBankNotQuoted"/>
    /// when neither is active).
    /// </summary>
    public static AttestationFailure? VerifyQuote(DecodedTpmEvidence evidence, byte[] nonce, EventLog log, ReplayedLog replayed, out TpmAlgorithm policyBank)
    {
        policyBank = TpmAlgorithm.Null;
        var result = QuoteVerifier.Verify(new QuoteVerificationInput(
            evidence.Quote, evidence.QuoteSignature, evidence.Ak, nonce, replayed.Values, replayed.Required,
            DeclaredBanks: log.Banks, ProbedBanks: AttestedPcrs.ProbedBanks));
        if (result.Succeeded)
        {
            var active = QuoteVerifier.ActiveBanks(((QuoteInfo)result.Attest!.Attested).PcrSelection);
            if (AttestedPcrs.PolicyBank(active) is not { } bank)
            {
                return AttestationFailure.Of(AttestationFailureCode.PcrBankNotQuoted,
                    $"The TPM has neither the SHA-256 nor the SHA-1 bank active (active: {string.Join(",", active.Select(b => b.Name()))}); policies read one of those.");
            }

            policyBank = bank;
            return null;
        }

        var code = result.Failure switch
        {
            TpmFailure.MalformedEvidence or TpmFailure.NotTpmGenerated or TpmFailure.WrongAttestationType => AttestationFailureCode.QuoteMalformed,
            TpmFailure.NonceMismatch => AttestationFailureCode.QuoteNonceMismatch,
            TpmFailure.PcrBankNotDeclared => AttestationFailureCode.PcrBankNotInLog,
            TpmFailure.PcrBankNotQuoted => AttestationFailureCode.PcrBankNotQuoted,
            TpmFailure.PcrSelectionMismatch => AttestationFailureCode.QuotePcrSelectionInsufficient,
            TpmFailure.PcrDigestMismatch => AttestationFailureCode.EventLogReplayMismatch,
            _ => AttestationFailureCode.QuoteSignatureInvalid,
        };
        return AttestationFailure.Of(code, $"Quote refused ({result.Failure}): {result.Result.Detail}.");
    }

    /// <summary>
    /// The boot the host key must be bound to: the quote's selection in <paramref name="policyBank"/> (the bank policies
    /// read, SHA-256 whenever the TPM has it active) with the values the log replays to — values the quote has just
    /// proven, so a key bound to them is usable only while the TPM holds the boot the service judged.
    /// </summary>
    public static BootBinding Boot(ReplayedLog replayed, TpmAlgorithm policyBank)
    {
        ArgumentNullException.ThrowIfNull(replayed);
        return new BootBinding(replayed.Required.First(s => s.Hash == policyBank), replayed.Values[policyBank]);
    }

    /// <summary>
    /// The AK's certification of the host key over <paramref name="nonce"/>: a TPM-resident decrypt-only key
    /// (<see cref="AttestationFailureCode.HostKeyAttributesRejected"/>, which also names a key usable with its authValue,
    /// userWithAuth) whose Name is SHA-256/384/512 (<see cref="AttestationFailureCode.HostKeyNameAlgRejected"/>) and whose
    /// authPolicy binds it to <paramref name="boot"/> (<see cref="AttestationFailureCode.HostKeyNotBoundToBoot"/>).
    /// </summary>
    public static AttestationFailure? VerifyHostKey(DecodedTpmEvidence evidence, byte[] nonce, BootBinding boot)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(boot);
        if (evidence.Certify is null || evidence.CertifySignature is null)
        {
            return AttestationFailure.Of(AttestationFailureCode.HostKeyNotCertified, "The host encryption key is not certified by the attestation key (TPM2_Certify).");
        }

        if (!TpmEvidenceParsing.IsAcceptedNameAlg(evidence.HostKey.NameAlg))
        {
            return AttestationFailure.Of(AttestationFailureCode.HostKeyNameAlgRejected, TpmEvidenceParsing.NameAlgRefusal("certified host key", evidence.HostKey));
        }

        var result = CertifyVerifier.Verify(new CertifyVerificationInput(evidence.Certify, evidence.CertifySignature, evidence.Ak, nonce, evidence.HostKey, boot));
        return result.Failure switch
        {
            null => null,
            TpmFailure.CertifiedKeyAttributes => AttestationFailure.Of(AttestationFailureCode.HostKeyAttributesRejected,
                $"The host encryption key must be TPM-resident, decrypt-only and usable only through its PCR policy (userWithAuth clear; a client before design change 72 makes keys with userWithAuth set and must be updated): {result.Detail}."),
            TpmFailure.CertifiedKeyNotBoundToBoot => AttestationFailure.Of(AttestationFailureCode.HostKeyNotBoundToBoot,
                $"The host encryption key is not bound to the attested boot (its authPolicy must be PolicyPCR of the quoted {boot.Selection.Hash.Name()} PCRs' attested values): {result.Detail}."),
            _ => AttestationFailure.Of(AttestationFailureCode.HostKeyCertificationInvalid, $"The host key certification is refused ({result.Failure}): {result.Detail}."),
        };
    }
}
