using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Tests.Support;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Swtpm;

[Collection(SwtpmCollection.Name)]
public sealed class VerificationInteropTests(SwtpmFixture swtpm) : SwtpmTestBase(swtpm)
{
    private const uint PersistentAk = 0x81000100;
    private static readonly int[] QuotedPcrs = [0, 1, 2, 3, 4, 5, 6, 7];

    [Fact]
    public void Our_quote_verifies_in_our_verifier_and_each_tampering_is_named()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var selection = PcrSelection.Create(TpmAlgorithm.Sha256, QuotedPcrs);
        var quote = tpm.Quote(ak, nonce, [selection]);
        var pcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> { [TpmAlgorithm.Sha256] = tpm.PcrRead(TpmAlgorithm.Sha256, QuotedPcrs) };
        var qn = tpm.ReadPublic(ak.Handle).QualifiedName;
        var input = new QuoteVerificationInput(quote.AttestBytes, quote.Signature.ToBytes(), ak.Public, nonce, pcrs, [selection], qn);

        Assert.True(QuoteVerifier.Verify(input).Succeeded, QuoteVerifier.Verify(input).Result.Detail);

        Assert.Equal(AttestationFailure.NonceMismatch, QuoteVerifier.Verify(input with { Nonce = RandomNumberGenerator.GetBytes(32) }).Failure);
        Assert.Equal(AttestationFailure.SignerMismatch, QuoteVerifier.Verify(input with { ExpectedQualifiedSigner = ak.Name }).Failure);
        var otherPcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>>
        {
            [TpmAlgorithm.Sha256] = pcrs[TpmAlgorithm.Sha256].ToDictionary(p => p.Key, p => p.Key == 7 ? new byte[32] : p.Value).AsReadOnly(),
        };
        otherPcrs[TpmAlgorithm.Sha256] = otherPcrs[TpmAlgorithm.Sha256].ToDictionary(p => p.Key, p => p.Key == 7 ? SHA256.HashData(p.Value) : p.Value);
        Assert.Equal(AttestationFailure.PcrDigestMismatch, QuoteVerifier.Verify(input with { PcrValues = otherPcrs }).Failure);
        Assert.Equal(AttestationFailure.PcrSelectionMismatch,
            QuoteVerifier.Verify(input with { RequiredPcrs = [PcrSelection.Create(TpmAlgorithm.Sha256, [8])] }).Failure);

        var tampered = (byte[])quote.AttestBytes.Clone();
        tampered[^1] ^= 1;
        Assert.Equal(AttestationFailure.BadSignature, QuoteVerifier.Verify(input with { AttestBytes = tampered }).Failure);
        var badMagic = (byte[])quote.AttestBytes.Clone();
        badMagic[0] = 0;
        Assert.Equal(AttestationFailure.NotTpmGenerated, QuoteVerifier.Verify(input with { AttestBytes = badMagic }).Failure);
        Assert.Equal(AttestationFailure.MalformedEvidence, QuoteVerifier.Verify(input with { AttestBytes = quote.AttestBytes[..20] }).Failure);

        // A quote from another key (e.g. another TPM) does not verify with the registered AK.
        using var otherAk = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var foreign = tpm.Quote(otherAk, nonce, [selection]);
        Assert.Equal(AttestationFailure.BadSignature,
            QuoteVerifier.Verify(input with { AttestBytes = foreign.AttestBytes, Signature = foreign.Signature.ToBytes(), ExpectedQualifiedSigner = null }).Failure);

        // A certify is not a quote.
        var certify = tpm.Certify(srk, ak, nonce);
        Assert.Equal(AttestationFailure.WrongAttestationType,
            QuoteVerifier.Verify(input with { AttestBytes = certify.AttestBytes, Signature = certify.Signature.ToBytes() }).Failure);
    }

    [Fact]
    public void Ecc_quote_verifies()
    {
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkEccP256));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var selection = PcrSelection.Create(TpmAlgorithm.Sha1, QuotedPcrs);
        var quote = tpm.Quote(ak, nonce, [selection]);
        var pcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> { [TpmAlgorithm.Sha1] = tpm.PcrRead(TpmAlgorithm.Sha1, QuotedPcrs) };
        var result = QuoteVerifier.Verify(new QuoteVerificationInput(quote.AttestBytes, quote.Signature.ToBytes(), ak.Public, nonce, pcrs, [selection]));
        Assert.True(result.Succeeded, result.Result.Detail);
    }

    [Fact]
    public void Rsapss_quote_verifies()
    {
        var template = TpmTemplates.AkRsa2048 with
        {
            Parameters = ((RsaParameters)TpmTemplates.AkRsa2048.Parameters) with { Scheme = new AsymmetricScheme(TpmAlgorithm.RsaPss, TpmAlgorithm.Sha256) },
        };
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, template));
        var nonce = RandomNumberGenerator.GetBytes(32);
        var selection = PcrSelection.Create(TpmAlgorithm.Sha256, [0]);
        var quote = tpm.Quote(ak, nonce, [selection]);
        Assert.Equal(TpmAlgorithm.RsaPss, quote.Signature.SignatureAlgorithm);
        var pcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> { [TpmAlgorithm.Sha256] = tpm.PcrRead(TpmAlgorithm.Sha256, [0]) };
        var result = QuoteVerifier.Verify(new QuoteVerificationInput(quote.AttestBytes, quote.Signature.ToBytes(), ak.Public, nonce, pcrs, [selection]));
        Assert.True(result.Succeeded, result.Result.Detail);
    }

    [Fact]
    public void Certify_of_host_key_verifies_and_bad_keys_are_refused()
    {
        // swtpm has 3 transient object slots: keep at most SRK, AK and one key loaded at a time.
        using var tpm = Swtpm.CreateClient();
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        var selection = PcrSelection.Create(TpmAlgorithm.Sha256, QuotedPcrs);
        var boot = new BootBinding(selection, tpm.PcrRead(TpmAlgorithm.Sha256, QuotedPcrs));
        var bound = TpmTemplates.HostEncryptionRsa2048(PcrPolicy.Digest(TpmAlgorithm.Sha256, selection, boot.Values));
        var otherBoot = TpmTemplates.HostEncryptionRsa2048(PcrPolicy.Digest(TpmAlgorithm.Sha256, selection, QuotedPcrs.ToDictionary(p => p, _ => Enumerable.Repeat((byte)0xFF, 32).ToArray())));
        var hostBlob = tpm.Create(srk, bound);
        var otherBlob = tpm.Create(srk, bound);
        var dualBlob = tpm.Create(srk, bound with { Attributes = bound.Attributes | ObjectAttributes.Sign });
        var userAuthBlob = tpm.Create(srk, bound with { Attributes = bound.Attributes | ObjectAttributes.UserWithAuth });
        var otherBootBlob = tpm.Create(srk, otherBoot);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var akQn = tpm.ReadPublic(ak.Handle).QualifiedName;
        var nonce = RandomNumberGenerator.GetBytes(32);

        CertifyVerificationInput Certified(CreatedKey blob)
        {
            using var key = tpm.Load(srk, blob);
            var certify = tpm.Certify(key, ak, nonce);
            return new CertifyVerificationInput(certify.AttestBytes, certify.Signature.ToBytes(), ak.Public, nonce, blob.Public, boot, akQn);
        }

        var input = Certified(hostBlob);

        Assert.True(CertifyVerifier.Verify(input).Succeeded, CertifyVerifier.Verify(input).Detail);

        // The host presents a different key than the one certified.
        Assert.Equal(AttestationFailure.CertifiedNameMismatch, CertifyVerifier.Verify(input with { CertifiedKey = otherBlob.Public }).Failure);

        // A key that can also sign is certified by the TPM but refused (not decrypt-only).
        Assert.Equal(AttestationFailure.CertifiedKeyAttributes, CertifyVerifier.Verify(Certified(dualBlob)).Failure);

        // A key usable with its authValue (userWithAuth) decrypts in any boot: refused, naming the attribute.
        var userAuth = CertifyVerifier.Verify(Certified(userAuthBlob));
        Assert.Equal(AttestationFailure.CertifiedKeyAttributes, userAuth.Failure);
        Assert.Contains("UserWithAuth", userAuth.Detail, StringComparison.Ordinal);

        // A key whose PolicyPCR is over other PCR values (another boot) is refused; so is the right key judged against another boot.
        Assert.Equal(AttestationFailure.CertifiedKeyNotBoundToBoot, CertifyVerifier.Verify(Certified(otherBootBlob)).Failure);
        Assert.Equal(AttestationFailure.CertifiedKeyNotBoundToBoot, CertifyVerifier.Verify(input with
        {
            Boot = boot with { Values = boot.Values.ToDictionary(p => p.Key, p => p.Key == 7 ? SHA256.HashData(p.Value) : p.Value) },
        }).Failure);
        Assert.Equal(AttestationFailure.CertifiedKeyNotBoundToBoot, CertifyVerifier.Verify(input with
        {
            Boot = boot with { Selection = PcrSelection.Create(TpmAlgorithm.Sha256, QuotedPcrs[..^1]) },
        }).Failure);

        // Quote bytes are not a certification; the nonce must match.
        var quote = tpm.Quote(ak, nonce, [PcrSelection.Create(TpmAlgorithm.Sha256, [0])]);
        Assert.Equal(AttestationFailure.WrongAttestationType,
            CertifyVerifier.Verify(input with { AttestBytes = quote.AttestBytes, Signature = quote.Signature.ToBytes() }).Failure);
        Assert.Equal(AttestationFailure.NonceMismatch, CertifyVerifier.Verify(input with { Nonce = new byte[32] }).Failure);
        Assert.Equal(AttestationFailure.SignerMismatch, CertifyVerifier.Verify(input with { ExpectedQualifiedSigner = ak.Name }).Failure);
    }

    [Fact]
    public void Certify_made_by_our_client_verifies_with_openssl_under_the_ak()
    {
        // The host agent's TPM2_Certify output is plain RSASSA-PKCS1-v1_5/SHA-256 over the TPMS_ATTEST bytes, so any
        // verifier can check it: openssl, given the AK as PEM, must accept it, and refuse it over altered bytes.
        var dir = Directory.CreateTempSubdirectory("openhgs-certify-").FullName;
        try
        {
            using (var tpm = Swtpm.CreateClient())
            {
                using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
                var hostBlob = tpm.Create(srk, TpmTemplates.HostEncryptionRsa2048(new byte[32]));
                using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
                TpmAttestation certify;
                using (var hostKey = tpm.Load(srk, hostBlob))
                {
                    certify = tpm.Certify(hostKey, ak, RandomNumberGenerator.GetBytes(32));
                }

                Assert.Equal(TpmAlgorithm.RsaSsa, certify.Signature.SignatureAlgorithm);
                File.WriteAllBytes(Path.Combine(dir, "certify.msg"), certify.AttestBytes);
                File.WriteAllBytes(Path.Combine(dir, "certify.sig"), certify.Signature.Signature);
                byte[] altered = (byte[])certify.AttestBytes.Clone();
                altered[^1] ^= 1;
                File.WriteAllBytes(Path.Combine(dir, "altered.msg"), altered);
                using var rsa = ak.Public.ToRsa();
                File.WriteAllText(Path.Combine(dir, "ak.pem"), rsa.ExportSubjectPublicKeyInfoPem());
            }

            Assert.Equal((0, "Verified OK"), OpenSsl(dir, "certify.msg"));
            Assert.Equal(1, OpenSsl(dir, "altered.msg").ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int ExitCode, string Output) OpenSsl(string dir, string message)
    {
        var start = new System.Diagnostics.ProcessStartInfo("openssl", ["dgst", "-sha256", "-verify", Path.Combine(dir, "ak.pem"), "-signature", Path.Combine(dir, "certify.sig"), Path.Combine(dir, message)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Trim());
    }

    [Fact]
    public void Software_MakeCredential_is_activated_by_the_tpm()
    {
        using var tpm = Swtpm.CreateClient();
        using var ek = tpm.CreatePrimary(TpmHandles.Endorsement, TpmTemplates.EkRsa2048);
        using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
        using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
        var secret = RandomNumberGenerator.GetBytes(32);

        var blob = CredentialMaker.MakeCredential(ek.Public, secret, ak.Name);
        Assert.Equal(secret, tpm.ActivateCredential(ak, ek, blob));

        // Bound to another Name: the TPM refuses (integrity check fails).
        var wrong = CredentialMaker.MakeCredential(ek.Public, secret, srk.Name);
        Assert.Throws<TpmException>(() => tpm.ActivateCredential(ak, ek, wrong));
    }

    [Fact]
    public void Quote_made_by_tpm2_quote_verifies_in_our_verifier()
    {
        var dir = Directory.CreateTempSubdirectory("openhgs-quote-").FullName;
        try
        {
            using (var tpm = Swtpm.CreateClient())
            {
                using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
                using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
                tpm.EvictControl(ak, PersistentAk);
            }
            var nonce = RandomNumberGenerator.GetBytes(32);
            Swtpm.RunTpm2Tool("tpm2_quote", "-c", $"0x{PersistentAk:x8}", "-l", "sha256:0,1,2,3,4,5,6,7", "-q", Convert.ToHexStringLower(nonce),
                "-m", Path.Combine(dir, "quote.msg"), "-s", Path.Combine(dir, "quote.sig"), "-g", "sha256");

            using var client = Swtpm.CreateClient();
            var akInfo = client.ReadPublic(PersistentAk);
            var pcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>> { [TpmAlgorithm.Sha256] = client.PcrRead(TpmAlgorithm.Sha256, QuotedPcrs) };
            var input = new QuoteVerificationInput(File.ReadAllBytes(Path.Combine(dir, "quote.msg")), File.ReadAllBytes(Path.Combine(dir, "quote.sig")),
                akInfo.Public, nonce, pcrs, [PcrSelection.Create(TpmAlgorithm.Sha256, QuotedPcrs)], akInfo.QualifiedName);
            var result = QuoteVerifier.Verify(input);
            Assert.True(result.Succeeded, result.Result.Detail);
            Assert.Equal(AttestationFailure.NonceMismatch, QuoteVerifier.Verify(input with { Nonce = new byte[32] }).Failure);
        }
        finally
        {
            using var cleanup = Swtpm.CreateClient();
            TryEvict(cleanup, PersistentAk);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Quote_made_by_our_client_verifies_with_tpm2_checkquote()
    {
        var dir = Directory.CreateTempSubdirectory("openhgs-checkquote-").FullName;
        try
        {
            var nonce = RandomNumberGenerator.GetBytes(32);
            using (var tpm = Swtpm.CreateClient())
            {
                using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
                using var ak = tpm.Load(srk, tpm.Create(srk, TpmTemplates.AkRsa2048));
                var quote = tpm.Quote(ak, nonce, [PcrSelection.Create(TpmAlgorithm.Sha256, QuotedPcrs)]);
                File.WriteAllBytes(Path.Combine(dir, "quote.msg"), quote.AttestBytes);
                File.WriteAllBytes(Path.Combine(dir, "quote.sig"), quote.Signature.ToBytes());
                File.WriteAllBytes(Path.Combine(dir, "ak.pub"), ak.Public.ToSizedBytes());
                using var rsa = ak.Public.ToRsa();
                File.WriteAllText(Path.Combine(dir, "ak.pem"), rsa.ExportSubjectPublicKeyInfoPem());
            }
            // PCR values in tpm2-tools' "serialized" format (selection + digests); the default "values" format with
            // -l fails in tpm2-tools 5.4 for 8 or more PCRs. Read after the quote: nothing extends PCRs 0-7 meanwhile.
            Swtpm.RunTpm2Tool("tpm2_pcrread", "sha256:0,1,2,3,4,5,6,7", "-F", "serialized", "-o", Path.Combine(dir, "pcrs.bin"));
            foreach (var key in new[] { "ak.pem", "ak.pub" })
            {
                var output = Swtpm.RunTpm2Tool("tpm2_checkquote", "-u", Path.Combine(dir, key), "-m", Path.Combine(dir, "quote.msg"),
                    "-s", Path.Combine(dir, "quote.sig"), "-f", Path.Combine(dir, "pcrs.bin"), "-F", "serialized",
                    "-g", "sha256", "-q", Convert.ToHexStringLower(nonce));
                Assert.Contains("sig:", output, StringComparison.Ordinal);
            }
            Assert.Throws<InvalidOperationException>(() => Swtpm.RunTpm2Tool("tpm2_checkquote", "-u", Path.Combine(dir, "ak.pem"),
                "-m", Path.Combine(dir, "quote.msg"), "-s", Path.Combine(dir, "quote.sig"), "-f", Path.Combine(dir, "pcrs.bin"),
                "-F", "serialized", "-g", "sha256", "-q", "00"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void TryEvict(TpmClient client, uint handle)
    {
        try
        {
            client.EvictPersistent(handle);
        }
        catch (TpmException)
        {
        }
    }
}
