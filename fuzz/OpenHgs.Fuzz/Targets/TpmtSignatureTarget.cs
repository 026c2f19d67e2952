using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Targets;

/// <summary>A TPMT_SIGNATURE (quote or certify signature): parse, then verify it with an RSA and an ECC key.</summary>
public sealed class TpmtSignatureTarget : FuzzTarget<TpmFormatException>
{
    public override string Name => "tpmt-signature";

    public override string Description => "TpmtSignature.Parse + SignatureVerifier.Verify (RSA and ECC AK); refusal: TpmFormatException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        var signature = TpmtSignature.Parse(input.ToArray());
        SignatureVerifier.Verify(TpmTemplates.AkRsa2048, "data"u8, signature);
        SignatureVerifier.Verify(TpmTemplates.AkEccP256, "data"u8, signature);
        signature.ToBytes();
    }
}
