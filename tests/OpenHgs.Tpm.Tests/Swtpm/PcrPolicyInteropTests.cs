using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Tests.Support;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

/// <summary>
/// The host key's PolicyPCR binding (design change 72): the digest <see cref="PcrPolicy"/> computes is the one tpm2-tools
/// computes, and a key carrying it decrypts only in a policy session while the PCRs hold the values it was made over.
/// </summary>
[Collection(SwtpmCollection.Name)]
public sealed class PcrPolicyInteropTests(SwtpmFixture swtpm) : SwtpmTestBase(swtpm)
{
    // PCR 23 is resettable and read by no other test: extending it stands in for booting other software. Nine PCRs, as a
    // quote of a real log selects (0-7 and the static PCRs the log extends): more than one TPM2_PCR_Read returns.
    private static readonly PcrSelection Selection = PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2, 3, 4, 5, 6, 7, 23]);

    // tpm2_createpolicy takes at most 8 PCRs; these span the three bytes of the selection bitmap.
    private static readonly PcrSelection ToolSelection = PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2, 4, 7, 9, 14, 23]);

    [Fact]
    public void Known_answer_for_sha256_pcrs_0_to_2()
    {
        // tpm2_createpolicy --policy-pcr -l sha256:0,1,2 -f pcrs.bin, pcrs.bin = bytes 0..31 three times (tpm2-tools 5).
        var values = Enumerable.Range(0, 3).ToDictionary(p => p, _ => Enumerable.Range(0, 32).Select(b => (byte)b).ToArray());

        var digest = PcrPolicy.Digest(TpmAlgorithm.Sha256, PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2]), values);

        Assert.Equal("7ea655f57ab354e1b72bc559bafc8f205d6ebb56067c9c721cc42cf536d1a01b", Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void Digest_over_given_values_equals_tpm2_createpolicy()
    {
        var values = ToolSelection.Pcrs.ToDictionary(p => p, p => SHA256.HashData([(byte)p]));
        var dir = Directory.CreateTempSubdirectory("openhgs-policypcr-").FullName;
        try
        {
            var pcrs = Path.Combine(dir, "pcrs.bin");
            var policy = Path.Combine(dir, "policy.bin");
            File.WriteAllBytes(pcrs, ToolSelection.Pcrs.SelectMany(p => values[p]).ToArray());

            CreatePolicy("-f", pcrs, "-L", policy);

            Assert.Equal(File.ReadAllBytes(policy), PcrPolicy.Digest(TpmAlgorithm.Sha256, ToolSelection, values));
            // Another PCR value gives another digest (the values are hashed in, not just the selection).
            values[23] = new byte[32];
            Assert.NotEqual(File.ReadAllBytes(policy), PcrPolicy.Digest(TpmAlgorithm.Sha256, ToolSelection, values));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Digest_over_the_tpms_values_equals_tpm2_createpolicy_in_a_trial_session()
    {
        IReadOnlyDictionary<int, byte[]> current;
        using (var tpm = Swtpm.CreateClient())
        {
            current = tpm.PcrRead(TpmAlgorithm.Sha256, ToolSelection.Pcrs);
        }

        var dir = Directory.CreateTempSubdirectory("openhgs-policypcr-").FullName;
        try
        {
            var policy = Path.Combine(dir, "policy.bin");
            CreatePolicy("-L", policy);
            Assert.Equal(File.ReadAllBytes(policy), PcrPolicy.Digest(TpmAlgorithm.Sha256, ToolSelection, current));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_host_key_decrypts_only_in_a_policy_session_while_the_pcrs_hold_its_values_and_certifies_with_its_auth_value()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        var policy = PcrPolicy.Digest(TpmTemplates.HostEncryptionNameAlg, Selection, tpm.PcrRead(TpmAlgorithm.Sha256, Selection.Pcrs));
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        using var hostKey = tpm.Load(srk, tpm.Create(srk, TpmTemplates.HostEncryptionRsa2048(policy)));
        using var rsa = hostKey.Public.ToRsa();
        var secret = RandomNumberGenerator.GetBytes(32);
        var wrapped = rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA256);

        // TPM2_Certify is ADMIN role: adminWithPolicy is clear, so the empty authValue still authorises it.
        var certify = tpm.Certify(hostKey, ak, [1, 2, 3]);
        Assert.Equal(hostKey.Public.ComputeName(), Assert.IsType<CertifyInfo>(certify.Attest.Attested).Name);

        // userWithAuth is clear: the empty authValue does not authorise a decryption.
        var password = Assert.Throws<TpmException>(() => tpm.RsaDecrypt(hostKey, wrapped));
        Assert.Equal(TpmCommandCode.RsaDecrypt, password.Command);

        Assert.Equal(secret, DecryptInPolicySession(tpm, hostKey, wrapped));

        // "Reboot into other software": a PCR of the selection changes; the TPM refuses the policy.
        tpm.PcrExtend(23, new Dictionary<TpmAlgorithm, byte[]> { [TpmAlgorithm.Sha256] = SHA256.HashData("other boot"u8), [TpmAlgorithm.Sha1] = SHA1.HashData("other boot"u8) });
        var refused = Assert.Throws<TpmException>(() => DecryptInPolicySession(tpm, hostKey, wrapped));
        Assert.Equal(TpmRc.PolicyFail, refused.Code);
    }

    private static byte[] DecryptInPolicySession(TpmClient tpm, TpmObject key, byte[] wrapped)
    {
        using var session = tpm.StartAuthSession(policy: true, key.Public.NameAlg);
        tpm.PolicyPcr(session, Selection);
        return tpm.RsaDecrypt(key, wrapped, TpmAlgorithm.Sha256, keyAuth: new PolicySessionAuthorization(session));
    }

    /// <summary>
    /// tpm2_createpolicy --policy-pcr over <see cref="ToolSelection"/> in a trial session, which it leaves loaded on a TPM
    /// without a resource manager (swtpm's socket): flushed here so the next test starts clean.
    /// </summary>
    private void CreatePolicy(params string[] options)
    {
        Swtpm.RunTpm2Tool("tpm2_createpolicy", ["--policy-pcr", "-l", Spec(ToolSelection), .. options]);
        using var tpm = Swtpm.CreateClient();
        foreach (var session in tpm.GetHandles(TpmHandles.HmacSessionFirst))   // loaded sessions of either type
        {
            tpm.FlushContext(session);
        }
    }

    private static string Spec(PcrSelection selection) => $"{selection.Hash.Name()}:{string.Join(",", selection.Pcrs)}";
}
