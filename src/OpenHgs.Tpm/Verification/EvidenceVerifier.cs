using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>Offline evidence: what a host's TPM and firmware produced, as tpm2-tools writes it.</summary>
/// <param name="AttestationKey">The AK's public area (tpm2_readpublic -o).</param>
/// <param name="AttestBytes">The exact TPMS_ATTEST bytes the TPM signed (tpm2_quote -m).</param>
/// <param name="Attest">The parsed <paramref name="AttestBytes"/>.</param>
/// <param name="Signature">The TPMT_SIGNATURE (tpm2_quote -s).</param>
/// <param name="Log">The parsed TCG event log of the boot the quote describes.</param>
/// <param name="Nonce">The qualifying data the verifier chose; null when the caller has none (the nonce check is then "not checked").</param>
/// <param name="RequiredPcrs">PCRs (per bank) the quote must cover; empty for no requirement.</param>
public sealed record EvidenceInput(
    TpmtPublic AttestationKey,
    byte[] AttestBytes,
    TpmsAttest Attest,
    TpmtSignature Signature,
    EventLog Log,
    byte[]? Nonce,
    IReadOnlyList<PcrSelection> RequiredPcrs);

/// <summary>Outcome of one evidence check.</summary>
public enum EvidenceCheckStatus
{
    /// <summary>The check ran and passed.</summary>
    Passed,
    /// <summary>The check ran and failed.</summary>
    Failed,
    /// <summary>The check did not run (no input for it, or an earlier structure made it meaningless); never counts as passed.</summary>
    NotChecked,
}

/// <summary>One named check of the evidence.</summary>
/// <param name="Name">Stable name: signature, nonce, pcrBanks, pcrSelection or pcrDigest.</param>
/// <param name="Status">Outcome.</param>
/// <param name="Failure">The failure code when <paramref name="Status"/> is Failed.</param>
/// <param name="Detail">Human-readable detail (no key material).</param>
public sealed record EvidenceCheck(string Name, EvidenceCheckStatus Status, AttestationFailure? Failure, string Detail);

/// <summary>How a PCR appears in the evidence.</summary>
public enum PcrCoverage
{
    /// <summary>The quote covers it and the log extends it.</summary>
    QuotedAndLogged,
    /// <summary>The quote covers it but the log never extends it: its value is taken as the PCR's reset value.</summary>
    QuotedNotLogged,
    /// <summary>The log extends it but the quote does not cover it: those events are not attested.</summary>
    LoggedNotQuoted,
}

/// <summary>What the evidence says about one PCR.</summary>
public enum PcrVerdict
{
    /// <summary>Quoted, and the quoted digest equals the replayed (or reset) value set: the value is attested.</summary>
    Attested,
    /// <summary>Quoted, but the digest comparison failed or did not run: the value is not attested.</summary>
    NotAttested,
    /// <summary>Not quoted: nothing about it is attested.</summary>
    NotQuoted,
}

/// <summary>One PCR of one bank.</summary>
/// <param name="Bank">The bank.</param>
/// <param name="Pcr">The index.</param>
/// <param name="Coverage">Quoted and/or logged.</param>
/// <param name="Verdict">Whether its value is attested.</param>
/// <param name="Value">The value the log replays to (the reset value for <see cref="PcrCoverage.QuotedNotLogged"/>); null for a bank this process cannot hash.</param>
public sealed record PcrReport(TpmAlgorithm Bank, int Pcr, PcrCoverage Coverage, PcrVerdict Verdict, byte[]? Value);

/// <summary>The result of <see cref="EvidenceVerifier.Verify"/>.</summary>
/// <param name="Checks">signature, nonce, pcrBanks, pcrSelection, pcrDigest, in that order.</param>
/// <param name="Pcrs">For each quoted bank, every PCR the quote covers or the log extends, ascending.</param>
/// <param name="UnquotedLogBanks">Banks the log carries that the quote does not cover: nothing the log says in them is attested.</param>
/// <param name="SecureBoot">The Secure Boot state the log records.</param>
/// <param name="SecureBootAttested">True when the log's PCR 7 is covered by a quote whose signature, bank rule and digest verified.</param>
/// <param name="ActiveBanks">The banks the quote's signed selection shows the TPM has active (<see cref="QuoteVerifier.ActiveBanks"/>); empty when the attestation is not a quote.</param>
public sealed record EvidenceReport(
    IReadOnlyList<EvidenceCheck> Checks,
    IReadOnlyList<PcrReport> Pcrs,
    IReadOnlyList<TpmAlgorithm> UnquotedLogBanks,
    SecureBootState SecureBoot,
    bool SecureBootAttested,
    IReadOnlyList<TpmAlgorithm> ActiveBanks)
{
    /// <summary>True when no check failed (a check that was not run does not fail the evidence, and is reported as such).</summary>
    public bool Passed => Checks.All(c => c.Status != EvidenceCheckStatus.Failed);

    /// <summary>The outcome of the check named <paramref name="name"/> (one of <see cref="EvidenceVerifier"/>'s check names).</summary>
    public EvidenceCheck Check(string name) => Checks.Single(c => c.Name == name);
}

/// <summary>
/// Verifies a quote and an event log offline (the Get-HgsTrace of TPM mode): the AK's signature over the quote, the
/// nonce when one is given, the service's bank rule (<see cref="QuoteVerifier.CheckBanks"/> with
/// <see cref="AttestedPcrs.ProbedBanks"/>: the banks the log declares are the banks the TPM signed as active), that the
/// log has the quoted banks, and that the log's replay hashes to the quoted pcrDigest.
/// Every check runs and is reported (none short-circuits the report); <see cref="EvidenceReport.Passed"/> is false
/// when any ran and failed. It proves what the AK signed, not whose AK it is: binding the AK to a TPM (EK
/// certificate, ActivateCredential) is the enrolment's job and out of scope here.
/// </summary>
public static class EvidenceVerifier
{
    /// <summary>Check names, as reported.</summary>
    public const string SignatureCheck = "signature", NonceCheck = "nonce", PcrBanksCheck = "pcrBanks", PcrSelectionCheck = "pcrSelection", PcrDigestCheck = "pcrDigest";

    private const int SecureBootPcr = 7;

    /// <summary>Runs every check; never throws for bad evidence.</summary>
    public static EvidenceReport Verify(EvidenceInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var attest = input.Attest;
        var quote = attest.Attested as QuoteInfo;
        var replay = input.Log.Replay();

        var signature = AttestChecks.Header(attest, expectedSigner: null, TpmsAttest.AttestQuote) is { Succeeded: false } header
            ? header
            : AttestChecks.KeyAndSignature(input.Signature, input.AttestBytes, input.AttestationKey);
        var checks = new List<EvidenceCheck>
        {
            signature.Succeeded
                ? Pass(SignatureCheck, $"{input.Signature.SignatureAlgorithm.Name()}/{input.Signature.Hash.Name()} signature by the attestation key verifies")
                : Fail(SignatureCheck, signature),
            CheckNonce(attest, input.Nonce),
        };

        // Without the bank rule a root user can fill a bank the firmware never extended with a good host's log (A79):
        // its PCRs then replay and quote correctly, yet say nothing about this boot.
        var banks = CheckBanks(quote, input.Log);
        checks.Add(banks);

        var selection = CheckSelection(quote, input.RequiredPcrs, replay, bankRulePassed: banks.Status == EvidenceCheckStatus.Passed);
        checks.Add(selection);
        var digest = selection.Status == EvidenceCheckStatus.Passed
            ? CheckDigest(quote!, input.Signature.Hash, replay)
            : new EvidenceCheck(PcrDigestCheck, EvidenceCheckStatus.NotChecked, null, "the quoted PCRs cannot be replayed from this log");
        checks.Add(digest);

        var attested = signature.Succeeded && banks.Status == EvidenceCheckStatus.Passed && digest.Status == EvidenceCheckStatus.Passed;
        var pcrs = PcrTable(quote, replay, attested);
        var secureBootAttested = attested && pcrs.Any(p => p.Pcr == SecureBootPcr && p.Verdict == PcrVerdict.Attested);
        var quotedBanks = quote?.PcrSelection.Where(s => s.Pcrs.Count > 0).Select(s => s.Hash).ToHashSet() ?? [];
        var unquoted = input.Log.Banks.Where(b => !quotedBanks.Contains(b)).ToList();
        IReadOnlyList<TpmAlgorithm> active = quote is null ? [] : QuoteVerifier.ActiveBanks(quote.PcrSelection);
        return new EvidenceReport(checks, pcrs, unquoted, input.Log.GetSecureBootState(), secureBootAttested, active);
    }

    /// <summary>The value a PCR holds after TPM2_Startup(CLEAR) before anything extends it (PCRs 17-22, the DRTM PCRs, start at all ones).</summary>
    public static byte[] ResetValue(TpmAlgorithm bank, int pcr)
    {
        var value = new byte[bank.DigestSize()];
        if (pcr is >= 17 and <= 22)
        {
            Array.Fill(value, (byte)0xff);
        }
        return value;
    }

    private static EvidenceCheck CheckNonce(TpmsAttest attest, byte[]? nonce) => nonce switch
    {
        null => new(NonceCheck, EvidenceCheckStatus.NotChecked, null, "no nonce given: the quote's freshness is not checked"),
        _ when AttestChecks.NonceMatches(attest, nonce) => Pass(NonceCheck, "extraData equals the given nonce"),
        _ => new(NonceCheck, EvidenceCheckStatus.Failed, AttestationFailure.NonceMismatch, "extraData is not the given nonce"),
    };

    private static EvidenceCheck CheckBanks(QuoteInfo? quote, EventLog log)
    {
        if (quote is null)
        {
            return new(PcrBanksCheck, EvidenceCheckStatus.NotChecked, null, "the attestation is not a quote");
        }

        var result = QuoteVerifier.CheckBanks(quote.PcrSelection, log.Banks, AttestedPcrs.ProbedBanks);
        return result.Succeeded
            ? Pass(PcrBanksCheck, $"the quote selects {string.Join(",", AttestedPcrs.ProbedBanks.Select(b => b.Name()))}; the TPM's active banks ({string.Join(",", QuoteVerifier.ActiveBanks(quote.PcrSelection).Select(b => b.Name()))}) are banks the log extends")
            : Fail(PcrBanksCheck, result);
    }

    /// <summary>The quote selects some PCR; the required ones by the service's own rule (<see cref="QuoteVerifier.CheckRequiredPcrs"/>); the log has every quoted bank.</summary>
    private static EvidenceCheck CheckSelection(QuoteInfo? quote, IReadOnlyList<PcrSelection> required,
        IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> replay, bool bankRulePassed)
    {
        if (quote is null)
        {
            return new(PcrSelectionCheck, EvidenceCheckStatus.NotChecked, null, "the attestation is not a quote");
        }
        var selected = quote.PcrSelection.Where(s => s.Pcrs.Count > 0).ToList();
        if (selected.Count == 0)
        {
            return Fail(PcrSelectionCheck, AttestationFailure.PcrSelectionMismatch, "the quote covers no PCR");
        }
        var coverage = QuoteVerifier.CheckRequiredPcrs(quote.PcrSelection, required, bankRulePassed, out var inactive);
        if (!coverage.Succeeded)
        {
            return Fail(PcrSelectionCheck, coverage);
        }
        var absent = selected.Select(s => s.Hash).Distinct().Where(b => !replay.ContainsKey(b)).ToList();
        if (absent.Count > 0)
        {
            return Fail(PcrSelectionCheck, AttestationFailure.PcrSelectionMismatch,
                $"the quote covers the {string.Join(", ", absent.Select(b => b.Name()))} bank, which the log has no (replayable) digests for");
        }
        return Pass(PcrSelectionCheck, "the quote covers " + Describe(selected) + (inactive.Count == 0 ? string.Empty
            : $"; the required {string.Join(",", inactive.Select(b => b.Name()))} PCRs are in a bank the TPM signed as inactive, which nothing can extend (as at the service)"));
    }

    private static EvidenceCheck CheckDigest(QuoteInfo quote, TpmAlgorithm hash,
        IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> replay)
    {
        if (!hash.CanHash())
        {
            return new(PcrDigestCheck, EvidenceCheckStatus.NotChecked, null, $"the signature hash {hash.Name()} cannot be computed here");
        }
        var notLogged = quote.PcrSelection.SelectMany(s => s.Pcrs.Where(p => !replay[s.Hash].ContainsKey(p)).Select(p => $"{s.Hash.Name()}:{p}")).ToList();
        var assumption = notLogged.Count == 0 ? string.Empty : $" (PCRs the log does not extend taken at their reset value: {string.Join(",", notLogged)})";
        return AttestChecks.PcrDigestMatches(quote, hash, (bank, pcr) => Replayed(replay, bank, pcr))
            ? Pass(PcrDigestCheck, "the log replays to the quoted pcrDigest" + assumption)
            : Fail(PcrDigestCheck, AttestationFailure.PcrDigestMismatch,
                "the log's replay does not hash to the quoted pcrDigest: the log was altered, is from another boot, or a quoted PCR holds measurements the log lacks" + assumption);
    }

    private static List<PcrReport> PcrTable(QuoteInfo? quote,
        IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> replay, bool attested)
    {
        var quoted = (quote?.PcrSelection ?? []).GroupBy(s => s.Hash).ToDictionary(g => g.Key, g => g.SelectMany(s => s.Pcrs).ToHashSet());
        var table = new List<PcrReport>();
        foreach (var (bank, inQuote) in quoted)
        {
            var inLog = replay.GetValueOrDefault(bank);
            foreach (var pcr in inQuote.Concat(inLog?.Keys ?? []).Distinct().Order())
            {
                var logged = inLog?.ContainsKey(pcr) == true;
                var coverage = !inQuote.Contains(pcr) ? PcrCoverage.LoggedNotQuoted
                    : logged ? PcrCoverage.QuotedAndLogged : PcrCoverage.QuotedNotLogged;
                var verdict = coverage == PcrCoverage.LoggedNotQuoted ? PcrVerdict.NotQuoted
                    : attested ? PcrVerdict.Attested : PcrVerdict.NotAttested;
                var value = inLog is null ? null : Replayed(replay, bank, pcr);
                table.Add(new PcrReport(bank, pcr, coverage, verdict, value));
            }
        }
        return table;
    }

    private static byte[] Replayed(IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> replay, TpmAlgorithm bank, int pcr) =>
        replay[bank].TryGetValue(pcr, out var value) ? value : ResetValue(bank, pcr);

    private static string Describe(IEnumerable<PcrSelection> selections) =>
        string.Join("+", selections.Select(s => $"{s.Hash.Name()}:{string.Join(",", s.Pcrs)}"));

    private static EvidenceCheck Pass(string name, string detail) => new(name, EvidenceCheckStatus.Passed, null, detail);

    private static EvidenceCheck Fail(string name, AttestationFailure failure, string detail) => new(name, EvidenceCheckStatus.Failed, failure, detail);

    private static EvidenceCheck Fail(string name, VerificationResult result) => new(name, EvidenceCheckStatus.Failed, result.Failure, result.Detail);
}
