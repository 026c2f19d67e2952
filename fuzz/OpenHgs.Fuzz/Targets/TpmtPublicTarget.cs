using OpenHgs.Tpm;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Targets;

/// <summary>A TPMT_PUBLIC (EK, AK or host key) as sent in TPM evidence: parse, Name, and use as a signature key.</summary>
/// <remarks>SignatureVerifier documents that it never throws for bad input, so a throw from it is a finding too.</remarks>
public sealed class TpmtPublicTarget : FuzzTarget<TpmFormatException>
{
    private static readonly TpmtSignature RsaSignature = new(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256, new byte[256], []);
    private static readonly TpmtSignature EcSignature = new(TpmAlgorithm.EcDsa, TpmAlgorithm.Sha256, new byte[32], new byte[32]);

    public override string Name => "tpmt-public";

    public override string Description => "TpmtPublic.Parse + ComputeName + SignatureVerifier.Verify with it; refusal: TpmFormatException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        var key = TpmtPublic.Parse(input.ToArray());
        if (key.NameAlg.CanHash())
        {
            key.ComputeName();
        }

        SignatureVerifier.Verify(key, "data"u8, key.Type == TpmAlgorithm.Rsa ? RsaSignature : EcSignature);
    }
}
