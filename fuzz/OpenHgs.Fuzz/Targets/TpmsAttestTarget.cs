using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Targets;

/// <summary>
/// A TPMS_ATTEST (quote or certify) as sent in TPM evidence: parse it, then hand the same bytes to the quote and
/// certify verifiers, which document that they never throw for malformed evidence.
/// </summary>
public sealed class TpmsAttestTarget : FuzzTarget<TpmFormatException>
{
    private static readonly byte[] Signature =
        new TpmtSignature(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256, new byte[256], []).ToBytes();

    private static readonly IReadOnlyDictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> Pcrs =
        new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>>
        {
            [TpmAlgorithm.Sha256] = Enumerable.Range(0, 8).ToDictionary(i => i, _ => new byte[32]),
        };

    private static readonly byte[] Nonce = [1, 2, 3];

    private static readonly BootBinding Boot = new(PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1]), Pcrs[TpmAlgorithm.Sha256]);

    private static readonly TpmtPublic HostKey = TpmTemplates.HostEncryptionRsa2048(PcrPolicy.Digest(TpmAlgorithm.Sha256, Boot.Selection, Boot.Values));

    public override string Name => "tpms-attest";

    public override string Description => "TpmsAttest.Parse + QuoteVerifier.Verify + CertifyVerifier.Verify; refusal: TpmFormatException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        byte[] bytes = input.ToArray();
        QuoteVerifier.Verify(new QuoteVerificationInput(bytes, Signature, TpmTemplates.AkRsa2048, Nonce, Pcrs,
            [PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1])]));
        CertifyVerifier.Verify(new CertifyVerificationInput(bytes, Signature, TpmTemplates.AkRsa2048, Nonce, HostKey, Boot));
        TpmsAttest.Parse(bytes).ToBytes();
    }
}
