using System.Text;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Fuzz.Tests;

/// <summary>The bugs the fuzzer found, each pinned to the refusal it must now give.</summary>
public sealed class FuzzFindingTests
{
    [Fact]
    [Trait("Attack", "A83")]
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

    [Fact]
    [Trait("Attack", "A84")]
    public void Guardian_metadata_escaping_an_unpaired_surrogate_is_malformed_not_a_crash()
    {
        // fuzz/findings/guardian-metadata/crash-unpaired-surrogate-escape.bin: "\uDCCA" inside signingCertificate.
        string json = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(FuzzCorpus.Findings("guardian-metadata"), "crash-unpaired-surrogate-escape.bin")));

        var ex = Assert.Throws<GuardianFormatException>(() => GuardianMetadata.Parse(json));

        Assert.Equal(GuardianFormatError.Malformed, ex.Error);
        Assert.Contains("surrogate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_protector_member_name_escaping_an_unpaired_surrogate_is_malformed_not_a_crash()
    {
        byte[] json = File.ReadAllBytes(Path.Combine(FuzzCorpus.Findings("key-protector"), "unpaired-surrogate-member-name.json"));

        var ex = Assert.Throws<KeyProtectorException>(() => KeyProtector.Parse(json));

        Assert.Equal(KeyProtectorError.Malformed, ex.Error);
    }
}
