using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>What a quote is checked against.</summary>
/// <param name="AttestBytes">The exact TPMS_ATTEST bytes the TPM signed (TPM2B_ATTEST content).</param>
/// <param name="Signature">The TPMT_SIGNATURE bytes.</param>
/// <param name="AttestationKey">The AK's public area (already bound to the EK by ActivateCredential at enrolment).</param>
/// <param name="Nonce">The single-use nonce the server issued; must equal extraData exactly.</param>
/// <param name="PcrValues">
/// Claimed PCR values per bank (e.g. the host's PCR_Read, or the replay of its event log); the quoted selection's
/// values are taken from here in TPM order and hashed to compare with pcrDigest.
/// </param>
/// <param name="RequiredPcrs">
/// PCRs (per bank) the policy needs; each must be in the quoted selection — except, when <paramref name="DeclaredBanks"/> is
/// set, in a bank the quote selects but the TPM signed as inactive (<see cref="QuoteVerifier.CheckRequiredPcrs"/>).
/// </param>
/// <param name="ExpectedQualifiedSigner">The AK's Qualified Name, when known (from ReadPublic at enrolment); null skips the check.</param>
/// <param name="DeclaredBanks">
/// When set, the bank rule (<see cref="QuoteVerifier.CheckBanks"/>): the banks the event log declares must be exactly the
/// banks the signed selection shows active, and every bank of <paramref name="ProbedBanks"/> must be selected. Null skips it
/// (quotes that are not checked against a measured-boot log).
/// </param>
/// <param name="ProbedBanks">Banks every quote must select, active or not (the TPM signs an empty selection for an inactive one).</param>
public sealed record QuoteVerificationInput(
    byte[] AttestBytes,
    byte[] Signature,
    TpmtPublic AttestationKey,
    byte[] Nonce,
    IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> PcrValues,
    IReadOnlyList<PcrSelection> RequiredPcrs,
    byte[]? ExpectedQualifiedSigner = null,
    IReadOnlyList<TpmAlgorithm>? DeclaredBanks = null,
    IReadOnlyList<TpmAlgorithm>? ProbedBanks = null);

/// <summary>A verified (or refused) quote, with the parsed attestation when parsing succeeded.</summary>
public sealed record QuoteVerificationResult(VerificationResult Result, TpmsAttest? Attest)
{
    /// <summary>True when every check passed.</summary>
    public bool Succeeded => Result.Succeeded;

    /// <summary>The named failure, or null.</summary>
    public AttestationFailure? Failure => Result.Failure;
}

/// <summary>
/// Verifies a TPM2_Quote: magic, type, qualified signer, nonce, AK attributes, signature, PCR selection and digest.
/// Never throws for malformed evidence; each refusal names its <see cref="AttestationFailure"/>.
/// </summary>
public static class QuoteVerifier
{
    /// <summary>Runs every check in order and returns the first failure.</summary>
    public static QuoteVerificationResult Verify(QuoteVerificationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!AttestChecks.TryParse(input.AttestBytes, input.Signature, out var attest, out var signature, out var malformed))
        {
            return new(malformed, null);
        }

        var common = AttestChecks.Common(attest, signature, input.AttestBytes, input.AttestationKey, input.Nonce,
            input.ExpectedQualifiedSigner, TpmsAttest.AttestQuote);
        if (!common.Succeeded)
        {
            return new(common, attest);
        }

        var quote = (QuoteInfo)attest.Attested;
        if (input.DeclaredBanks is { } declared)
        {
            var banks = CheckBanks(quote.PcrSelection, declared, input.ProbedBanks ?? []);
            if (!banks.Succeeded)
            {
                return new(banks, attest);
            }
        }

        // The bank rule has passed here whenever it ran (DeclaredBanks set).
        var coverage = CheckRequiredPcrs(quote.PcrSelection, input.RequiredPcrs, bankRulePassed: input.DeclaredBanks is not null, out _);
        if (!coverage.Succeeded)
        {
            return new(coverage, attest);
        }

        foreach (var selection in quote.PcrSelection)
        {
            foreach (var pcr in selection.Pcrs)
            {
                if (!input.PcrValues.TryGetValue(selection.Hash, out var bank) || !bank.ContainsKey(pcr))
                {
                    return new(VerificationResult.Fail(AttestationFailure.PcrSelectionMismatch,
                        $"no value supplied for quoted {selection.Hash.Name()} PCR {pcr}"), attest);
                }
            }
        }
        if (!AttestChecks.PcrDigestMatches(quote, signature.Hash, (bank, pcr) => input.PcrValues[bank][pcr]))
        {
            return new(VerificationResult.Fail(AttestationFailure.PcrDigestMismatch,
                "the supplied PCR values do not hash to the quoted pcrDigest"), attest);
        }
        return new(VerificationResult.Ok, attest);
    }

    /// <summary>
    /// The bank rule over a quote's signed selection. A TPM clears the selection bits of a bank it does not have
    /// allocated (TPM 2.0 Part 1, PCR selection filtering), so a non-empty selection proves the bank is active and an
    /// empty one that it is not. Refuses <see cref="AttestationFailure.PcrBankNotQuoted"/> when a bank of
    /// <paramref name="probed"/> or of <paramref name="declared"/> is not selected at all (the service could not tell
    /// whether it is active), and <see cref="AttestationFailure.PcrBankNotDeclared"/> when an active bank is not in
    /// <paramref name="declared"/> (the firmware did not extend it). A declared bank the TPM signed as inactive is
    /// allowed: nothing can extend it, and callers read only <see cref="ActiveBanks"/>.
    /// </summary>
    public static VerificationResult CheckBanks(IReadOnlyList<PcrSelection> quoted, IReadOnlyList<TpmAlgorithm> declared, IReadOnlyList<TpmAlgorithm> probed)
    {
        ArgumentNullException.ThrowIfNull(quoted);
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(probed);
        var unprobed = probed.Where(b => !quoted.Any(s => s.Hash == b)).ToList();
        if (unprobed.Count > 0)
        {
            return VerificationResult.Fail(AttestationFailure.PcrBankNotQuoted,
                $"the quote does not select the {Names(unprobed)} bank(s), which every quote must select so that an active one cannot be hidden");
        }

        var unselected = declared.Where(b => !quoted.Any(s => s.Hash == b)).Distinct().ToList();
        if (unselected.Count > 0)
        {
            return VerificationResult.Fail(AttestationFailure.PcrBankNotQuoted,
                $"the event log declares the {Names(unselected)} bank(s), which the quote does not select");
        }

        var undeclared = ActiveBanks(quoted).Where(b => !declared.Contains(b)).ToList();
        return undeclared.Count > 0
            ? VerificationResult.Fail(AttestationFailure.PcrBankNotDeclared,
                $"the TPM has the {Names(undeclared)} bank(s) active, which the event log does not extend (it declares {Names(declared)})")
            : VerificationResult.Ok;
    }

    /// <summary>
    /// The required-PCR rule, one function for the service (<see cref="Verify"/>) and <c>hgs evidence verify</c>
    /// (<see cref="EvidenceVerifier"/>): every PCR of <paramref name="required"/> must be in the quoted selection, except
    /// in a bank the quote selects and the TPM signed as inactive (an empty selection after its filtering), once the bank
    /// rule has passed (<paramref name="bankRulePassed"/>): nothing can extend an inactive bank, so it holds nothing to
    /// attest. A bank the quote does not select at all is not shown inactive, and its requirement stands.
    /// </summary>
    /// <param name="inactive">The required banks skipped because the TPM signed them inactive.</param>
    public static VerificationResult CheckRequiredPcrs(IReadOnlyList<PcrSelection> quoted, IReadOnlyList<PcrSelection> required, bool bankRulePassed,
        out IReadOnlyList<TpmAlgorithm> inactive)
    {
        ArgumentNullException.ThrowIfNull(quoted);
        ArgumentNullException.ThrowIfNull(required);
        var active = ActiveBanks(quoted);
        var skipped = new List<TpmAlgorithm>();
        inactive = skipped;
        foreach (var need in required)
        {
            if (bankRulePassed && !active.Contains(need.Hash) && quoted.Any(s => s.Hash == need.Hash))
            {
                if (!skipped.Contains(need.Hash))
                {
                    skipped.Add(need.Hash);
                }

                continue;
            }

            var covered = quoted.Where(s => s.Hash == need.Hash).SelectMany(s => s.Pcrs).ToHashSet();
            var missing = need.Pcrs.Where(p => !covered.Contains(p)).ToList();
            if (missing.Count > 0)
            {
                return VerificationResult.Fail(AttestationFailure.PcrSelectionMismatch,
                    $"the quote does not cover {need.Hash.Name()} PCR {string.Join(",", missing)}");
            }
        }

        return VerificationResult.Ok;
    }

    /// <summary>The banks a signed quote selection shows active (a non-empty selection after the TPM's filtering).</summary>
    public static IReadOnlyList<TpmAlgorithm> ActiveBanks(IReadOnlyList<PcrSelection> quoted)
    {
        ArgumentNullException.ThrowIfNull(quoted);
        return quoted.Where(s => s.Pcrs.Count > 0).Select(s => s.Hash).Distinct().ToList();
    }

    private static string Names(IEnumerable<TpmAlgorithm> banks) => string.Join(",", banks.Select(b => b.Name()));
}

/// <summary>Checks shared by quote and certify verification.</summary>
internal static class AttestChecks
{
    private const ObjectAttributes RestrictedSigning = ObjectAttributes.FixedTpm | ObjectAttributes.Restricted | ObjectAttributes.Sign;

    /// <summary>
    /// Parses a TPMS_ATTEST and its TPMT_SIGNATURE; either failing to parse is <c>MalformedEvidence</c>, returned (in
    /// <paramref name="malformed"/>), never thrown: evidence is attacker input.
    /// </summary>
    public static bool TryParse(byte[] attestBytes, byte[] signatureBytes, [NotNullWhen(true)] out TpmsAttest? attest,
        [NotNullWhen(true)] out TpmtSignature? signature, [NotNullWhen(false)] out VerificationResult? malformed)
    {
        try
        {
            attest = TpmsAttest.Parse(attestBytes);
            signature = TpmtSignature.Parse(signatureBytes);
            malformed = null;
            return true;
        }
        catch (TpmFormatException e)
        {
            (attest, signature, malformed) = (null, null, VerificationResult.Fail(AttestationFailure.MalformedEvidence, e.Message));
            return false;
        }
    }

    public static VerificationResult Common(TpmsAttest attest, TpmtSignature signature, byte[] attestBytes, TpmtPublic signingKey,
        byte[] nonce, byte[]? expectedSigner, ushort expectedType)
    {
        var header = Header(attest, expectedSigner, expectedType);
        if (!header.Succeeded)
        {
            return header;
        }
        if (!NonceMatches(attest, nonce))
        {
            return VerificationResult.Fail(AttestationFailure.NonceMismatch, "extraData is not the issued nonce");
        }
        return KeyAndSignature(signature, attestBytes, signingKey);
    }

    /// <summary>magic is TPM_GENERATED_VALUE, the type is <paramref name="expectedType"/>, and the signer is the expected QN when one is given.</summary>
    public static VerificationResult Header(TpmsAttest attest, byte[]? expectedSigner, ushort expectedType)
    {
        if (attest.Magic != TpmsAttest.GeneratedValue)
        {
            return VerificationResult.Fail(AttestationFailure.NotTpmGenerated, $"magic 0x{attest.Magic:x8}");
        }
        if (attest.Type != expectedType)
        {
            return VerificationResult.Fail(AttestationFailure.WrongAttestationType, $"type 0x{attest.Type:x4}, expected 0x{expectedType:x4}");
        }
        if (expectedSigner is not null && !attest.QualifiedSigner.AsSpan().SequenceEqual(expectedSigner))
        {
            return VerificationResult.Fail(AttestationFailure.SignerMismatch, "qualifiedSigner is not the registered attestation key");
        }
        return VerificationResult.Ok;
    }

    /// <summary>
    /// True when H_<paramref name="hash"/>(the values of the quoted PCRs, in TPM order: banks as selected, PCRs ascending)
    /// equals the quote's pcrDigest (constant time).
    /// </summary>
    public static bool PcrDigestMatches(QuoteInfo quote, TpmAlgorithm hash, Func<TpmAlgorithm, int, byte[]> value)
    {
        using var concatenated = new MemoryStream();
        foreach (var selection in quote.PcrSelection)
        {
            foreach (var pcr in selection.Pcrs)
            {
                concatenated.Write(value(selection.Hash, pcr));
            }
        }
        return CryptographicOperations.FixedTimeEquals(hash.Hash(concatenated.ToArray()), quote.PcrDigest);
    }

    /// <summary>extraData equals a non-empty <paramref name="nonce"/> (constant time).</summary>
    public static bool NonceMatches(TpmsAttest attest, byte[] nonce) =>
        nonce.Length != 0 && CryptographicOperations.FixedTimeEquals(attest.ExtraData, nonce);

    /// <summary>The signing key is a TPM-resident restricted signing key and the signature over <paramref name="attestBytes"/> verifies with it.</summary>
    public static VerificationResult KeyAndSignature(TpmtSignature signature, byte[] attestBytes, TpmtPublic signingKey)
    {
        if ((signingKey.Attributes & RestrictedSigning) != RestrictedSigning || (signingKey.Attributes & ObjectAttributes.Decrypt) != 0)
        {
            return VerificationResult.Fail(AttestationFailure.SigningKeyNotRestricted,
                $"attestation key attributes {signingKey.Attributes} lack fixedTPM|restricted|sign or include decrypt");
        }
        return SignatureVerifier.Verify(signingKey, attestBytes, signature);
    }
}
