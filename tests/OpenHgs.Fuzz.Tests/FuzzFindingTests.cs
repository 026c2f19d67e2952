using OpenHgs.Tpm;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Tests;

/// <summary>The bugs the fuzzer found, each pinned to the refusal it must now give.</summary>
public sealed class FuzzFindingTests
{
    [Fact]
    public void An_rsa_key_with_an_empty_modulus_is_an_unsupported_signature_not_a_crash()
    {
        // fuzz/findings/tpmt-public/crash-empty-rsa-modulus.bin: a TPMT_PUBLIC with a zero-length RSA unique field.
        byte[] bytes = File.ReadAllBytes(Path.Combine(FuzzCorpus.Findings("tpmt-public"), "crash-empty-rsa-modulus.bin"));
        var key = TpmtPublic.Parse(bytes);
        Assert.Empty(key.Rsa!.Modulus);

        var result = SignatureVerifier.Verify(key, "data"u8, new TpmtSignature(TpmAlgorithm.RsaSsa, TpmAlgorithm.Sha256, new byte[256], []));

        Assert.False(result.Succeeded);
        Assert.Equal(AttestationFailure.UnsupportedSignature, result.Failure);
    }
}
