using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Tests.Support;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

[Collection(SwtpmCollection.Name)]
public sealed class TpmClientTests(SwtpmFixture swtpm) : SwtpmTestBase(swtpm)
{
    [Fact]
    public void GetRandom_returns_requested_bytes()
    {
        using var tpm = Swtpm.CreateClient();
        tpm.Startup();
        var a = tpm.GetRandom(16);
        var b = tpm.GetRandom(16);
        Assert.Equal(16, a.Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Ek_from_template_matches_provisioned_ek_and_certificate()
    {
        using var tpm = Swtpm.CreateClient();
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        Assert.Equal(ek.Public.ComputeName(), ek.Name);
        Assert.Equal(256, ek.Public.Rsa!.Modulus.Length);

        var persistent = tpm.ReadPublic(0x81010001);
        Assert.Equal(persistent.Name, ek.Name);
        Assert.Equal(persistent.Public.Rsa!.Modulus, ek.Public.Rsa.Modulus);

        var der = tpm.ReadEkCertificate();
        Assert.NotNull(der);
        using var cert = X509CertificateLoader.LoadCertificate(der);
        using var certKey = cert.GetRSAPublicKey()!;
        Assert.Equal(ek.Public.Rsa.Modulus, certKey.ExportParameters(false).Modulus);

        using var root = X509CertificateLoader.LoadCertificateFromFile(Swtpm.RootCertificatePath);
        using var issuer = X509CertificateLoader.LoadCertificateFromFile(Swtpm.IssuerCertificatePath);
        var ok = EkCertificateValidator.Validate(der, ek.Public, [root], [issuer]);
        Assert.True(ok.Succeeded, ok.Detail);

        using var stranger = MakeSelfSignedRoot();
        Assert.Equal(EkCertificateFailure.UntrustedChain, EkCertificateValidator.Validate(der, ek.Public, [stranger], [issuer]).Failure);
        Assert.Equal(EkCertificateFailure.UntrustedChain, EkCertificateValidator.Validate(der, ek.Public, [root]).Failure);
        Assert.Equal(EkCertificateFailure.Expired,
            EkCertificateValidator.Validate(der, ek.Public, [root], [issuer], new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero)).Failure);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        Assert.Equal(EkCertificateFailure.KeyMismatch, EkCertificateValidator.Validate(der, srk.Public, [root], [issuer]).Failure);
        Assert.Equal(EkCertificateFailure.MalformedCertificate, EkCertificateValidator.Validate([1, 2, 3], ek.Public, [root]).Failure);
    }

    [Fact]
    public void Pcr_extend_and_read_agree_with_software_replay_and_tpm2_pcrread()
    {
        const int pcr = 16;
        var digest = SHA256.HashData("openhgs"u8);
        var sha1 = SHA1.HashData("openhgs"u8);
        byte[] before, after;
        using (var tpm = Swtpm.CreateClient())
        {
            before = tpm.PcrRead(TpmAlgorithm.Sha256, [pcr])[pcr];
            tpm.PcrExtend(pcr, new Dictionary<TpmAlgorithm, byte[]> { [TpmAlgorithm.Sha256] = digest, [TpmAlgorithm.Sha1] = sha1 });
            after = tpm.PcrRead(TpmAlgorithm.Sha256, [pcr])[pcr];
            var many = tpm.PcrRead(TpmAlgorithm.Sha256, Enumerable.Range(0, 24));
            Assert.Equal(24, many.Count);
        }
        Assert.Equal(SHA256.HashData([.. before, .. digest]), after);

        var text = Swtpm.RunTpm2Tool("tpm2_pcrread", $"sha256:{pcr}");
        Assert.Contains(Convert.ToHexString(after), text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Quote_is_signed_by_the_ak_over_the_nonce_and_pcrs()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var selection = new[] { PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1, 2, 3, 4, 5, 6, 7, 16]) };

        var quote = tpm.Quote(ak, nonce, selection);

        Assert.Equal(TpmsAttest.GeneratedValue, quote.Attest.Magic);
        Assert.Equal(TpmsAttest.AttestQuote, quote.Attest.Type);
        Assert.Equal(nonce, quote.Attest.ExtraData);
        // qualifiedSigner is the AK's Qualified Name (not its Name): QN(AK) = H(QN(SRK) ‖ Name(AK)).
        var akInfo = tpm.ReadPublic(ak.Handle);
        Assert.Equal(akInfo.QualifiedName, quote.Attest.QualifiedSigner);
        var srkQn = TpmNames.QualifiedName(TpmNames.HierarchyQualifiedName(TpmHandles.Owner), srk.Name);
        Assert.Equal(TpmNames.QualifiedName(srkQn, ak.Name), quote.Attest.QualifiedSigner);
        var info = Assert.IsType<QuoteInfo>(quote.Attest.Attested);
        var values = tpm.PcrRead(TpmAlgorithm.Sha256, selection[0].Pcrs);
        Assert.Equal(SHA256.HashData(values.Values.SelectMany(v => v).ToArray()), info.PcrDigest);
        Assert.Equal(quote.AttestBytes, quote.Attest.ToBytes());

        using var rsa = ak.Public.ToRsa();
        Assert.Equal(TpmAlgorithm.RsaSsa, quote.Signature.SignatureAlgorithm);
        Assert.True(rsa.VerifyData(quote.AttestBytes, quote.Signature.Signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void Ecc_ak_quote_signature_verifies()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkEccP256));
        var quote = tpm.Quote(ak, [1, 2, 3], [PcrSelection.Create(TpmAlgorithm.Sha1, [0])]);
        Assert.Equal(TpmAlgorithm.EcDsa, quote.Signature.SignatureAlgorithm);
        using var ecdsa = ECDsa.Create(ak.Public.ToEcParameters());
        var signature = quote.Signature.Signature.Concat(quote.Signature.S).ToArray();
        Assert.True(ecdsa.VerifyData(quote.AttestBytes, signature, HashAlgorithmName.SHA256));
    }

    [Fact]
    public void Certify_names_the_host_key_and_rsa_decrypt_works_inside_the_tpm()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var bootPcrs = PcrSelection.Create(TpmAlgorithm.Sha256, [0, 7]);
        using var hostKey = tpm.Load(srk, tpm.Create(srk, TpmTemplates.HostEncryptionRsa2048(
            PcrPolicy.Digest(TpmAlgorithm.Sha256, bootPcrs, tpm.PcrRead(TpmAlgorithm.Sha256, bootPcrs.Pcrs)))));
        var nonce = RandomNumberGenerator.GetBytes(16);

        var certify = tpm.Certify(hostKey, ak, nonce);
        var info = Assert.IsType<CertifyInfo>(certify.Attest.Attested);
        Assert.Equal(hostKey.Public.ComputeName(), info.Name);
        Assert.Equal(tpm.ReadPublic(ak.Handle).QualifiedName, certify.Attest.QualifiedSigner);
        Assert.Equal(TpmsAttest.AttestCertify, certify.Attest.Type);

        using var rsa = hostKey.Public.ToRsa();
        var secret = RandomNumberGenerator.GetBytes(32);
        var wrapped = rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA256);
        byte[] Decrypt(byte[] cipherText, TpmAlgorithm oaepHash)
        {
            using var session = tpm.StartAuthSession(policy: true, hostKey.Public.NameAlg);
            tpm.PolicyPcr(session, bootPcrs);
            return tpm.RsaDecrypt(hostKey, cipherText, oaepHash, keyAuth: new PolicySessionAuthorization(session));
        }

        Assert.Equal(secret, Decrypt(wrapped, TpmAlgorithm.Sha256));
        var wrapped1 = rsa.Encrypt(secret, RSAEncryptionPadding.OaepSHA1);
        Assert.Equal(secret, Decrypt(wrapped1, TpmAlgorithm.Sha1));
    }

    [Fact]
    public void ActivateCredential_recovers_a_tpm_made_credential()
    {
        using var tpm = Swtpm.CreateClient();
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var secret = RandomNumberGenerator.GetBytes(32);

        var blob = tpm.MakeCredential(ek, secret, ak.Name);
        Assert.Equal(secret, tpm.ActivateCredential(ak, ek, blob));
    }

    [Fact]
    public void ActivateCredential_for_another_key_fails_and_leaks_nothing()
    {
        using var tpm = Swtpm.CreateClient();
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var blob = tpm.MakeCredential(ek, new byte[16], srk.Name);
        var ex = Assert.Throws<TpmException>(() => tpm.ActivateCredential(ak, ek, blob));
        Assert.Equal(TpmCommandCode.ActivateCredential, ex.Command);
    }

    [Fact]
    public void Creating_many_objects_in_a_loop_does_not_exhaust_the_tpm()
    {
        using var tpm = Swtpm.CreateClient();
        for (var i = 0; i < 12; i++)
        {
            using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
            using var session = tpm.StartAuthSession();
            Assert.Contains(srk.Handle, tpm.GetHandles(TpmHandles.TransientFirst));
        }
        Assert.Empty(tpm.GetHandles(TpmHandles.TransientFirst));
    }

    private static X509Certificate2 MakeSelfSignedRoot()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=Not a TPM vendor", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    [Fact]
    public void Tpm_errors_carry_named_codes()
    {
        using var tpm = Swtpm.CreateClient();
        var ex = Assert.Throws<TpmException>(() => tpm.ReadPublic(0x80000010));
        // libtpms answers TPM_RC_VALUE + handle 1 (0x184) for an unloaded transient handle.
        Assert.Equal(0x184u, ex.ResponseCode);
        Assert.Equal(TpmRc.Value, ex.Code);
        Assert.Contains("Value, handle 1", ex.Message, StringComparison.Ordinal);
        Assert.Null(tpm.ReadEkCertificate(0x01C0FFFF));
    }
}
