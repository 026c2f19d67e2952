using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.Tpm.Verification;

/// <summary>
/// The policy digest of a single TPM2_PolicyPCR (TPM 2.0 Part 3 §23.7) from an empty policy: the authPolicy of a key that
/// the TPM lets be used only while the selected PCRs hold the given values. Pure, so the host (making the key) and the
/// service (checking the certified key is bound to the attested boot) compute it by the same code.
/// </summary>
public static class PcrPolicy
{
    /// <summary>TPM_CC_PolicyPCR, the command code hashed into the policy digest.</summary>
    public const uint CommandCode = 0x0000017F;

    /// <summary>
    /// policyDigest = H_nameAlg(zeros(size of nameAlg) ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION(selection) ‖ pcrDigest), with
    /// pcrDigest = H_nameAlg(the selected PCR values, PCR index ascending). <paramref name="values"/> must hold every
    /// selected PCR of <paramref name="selection"/>'s bank.
    /// </summary>
    public static byte[] Digest(TpmAlgorithm nameAlg, PcrSelection selection, IReadOnlyDictionary<int, byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(values);
        var concatenated = new TpmWriter();
        foreach (var pcr in selection.Pcrs.Order())
        {
            if (!values.TryGetValue(pcr, out var value) || value.Length != selection.Hash.DigestSize())
            {
                throw new ArgumentException($"No {selection.Hash.Name()} value for PCR {pcr}.", nameof(values));
            }

            concatenated.Write(value);
        }

        var pcrDigest = nameAlg.Hash(concatenated.ToArray());
        var extended = new TpmWriter().Write(new byte[nameAlg.DigestSize()]).WriteUInt32(CommandCode);
        PcrSelection.WriteList(extended, [selection]);
        extended.Write(pcrDigest);
        return nameAlg.Hash(extended.ToArray());
    }
}
