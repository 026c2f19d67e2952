using System.Security.Cryptography;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Marshalling;

public sealed class StructureTests
{
    [Fact]
    public void Ek_template_marshals_to_the_tcg_l1_bytes()
    {
        var bytes = TpmTemplates.EkRsa2048.ToBytes();
        // type RSA, nameAlg SHA256, attributes 0x000300B2, 32-byte policy, AES-128-CFB, scheme NULL, 2048 bits, exponent 0, 256-byte unique
        Assert.Equal("0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa000600800043001008000000000001000",
            Convert.ToHexStringLower(bytes)[..117]);
        Assert.Equal(2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 4 + 2 + 256, bytes.Length);
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void Public_round_trips_and_names_are_stable(TpmtPublic template)
    {
        var bytes = template.ToBytes();
        var parsed = TpmtPublic.Parse(bytes);
        Assert.Equal(bytes, parsed.ToBytes());
        Assert.Equal(template.ComputeName(), parsed.ComputeName());
        Assert.Equal(34, parsed.ComputeName().Length);
        Assert.Equal([0x00, 0x0b], parsed.ComputeName()[..2]);
        var sized = template.ToSizedBytes();
        Assert.Equal(bytes, TpmtPublic.ReadSized(new TpmReader(sized)).ToBytes());
    }

    public static TheoryData<TpmtPublic> Templates => new()
    {
        TpmTemplates.EkRsa2048, TpmTemplates.SrkRsa2048, TpmTemplates.AkRsa2048, TpmTemplates.AkEccP256, TpmTemplates.HostEncryptionRsa2048(new byte[32]),
    };

    [Fact]
    public void Every_truncation_of_structures_is_a_format_exception()
    {
        var attest = SampleAttest().ToBytes();
        var pub = TpmTemplates.EkRsa2048.ToBytes();
        var sig = new TpmtSignature(TpmAlgorithm.EcDsa, TpmAlgorithm.Sha256, new byte[32], new byte[32]).ToBytes();
        for (var i = 0; i < attest.Length; i++)
        {
            Assert.Throws<TpmFormatException>(() => TpmsAttest.Parse(attest[..i]));
        }
        for (var i = 0; i < pub.Length; i++)
        {
            Assert.Throws<TpmFormatException>(() => TpmtPublic.Parse(pub[..i]));
        }
        for (var i = 0; i < sig.Length; i++)
        {
            Assert.Throws<TpmFormatException>(() => TpmtSignature.Parse(sig[..i]));
        }
        Assert.Throws<TpmFormatException>(() => TpmsAttest.Parse(attest.Append((byte)0).ToArray()));
    }

    [Fact]
    public void Random_corruption_gives_format_exceptions_or_values_never_other_exceptions()
    {
        var random = new Random(5);
        var samples = new[] { SampleAttest().ToBytes(), TpmTemplates.AkEccP256.ToBytes(), TpmTemplates.EkRsa2048.ToBytes() };
        for (var round = 0; round < 3000; round++)
        {
            var bytes = (byte[])samples[round % samples.Length].Clone();
            for (var i = 0; i < 1 + random.Next(4); i++)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            try
            {
                if (round % samples.Length == 0)
                {
                    TpmsAttest.Parse(bytes);
                }
                else
                {
                    TpmtPublic.Parse(bytes).ComputeName();
                }
            }
            catch (TpmFormatException)
            {
            }
            catch (NotSupportedException)
            {
                // ComputeName with a nameAlg that is a hash this process cannot compute (SM3): a named refusal.
            }
        }
    }

    [Fact]
    public void Huge_declared_sizes_are_rejected_with_offset()
    {
        var ex = Assert.Throws<TpmFormatException>(() => TpmsAttest.Parse(Convert.FromHexString("ff54434780180100")));
        Assert.Equal(TpmFormatError.SizeTooLarge, ex.Reason);
        Assert.Equal(6, ex.Offset);
        var count = Assert.Throws<TpmFormatException>(() => PcrSelection.ReadList(new TpmReader(Convert.FromHexString("7fffffff"))));
        Assert.Equal(TpmFormatError.CountTooLarge, count.Reason);
    }

    [Fact]
    public void Pcr_selection_round_trips()
    {
        var list = new[] { PcrSelection.Create(TpmAlgorithm.Sha256, [0, 7, 16, 23]), PcrSelection.Create(TpmAlgorithm.Sha1, [1]) };
        var bytes = TpmWriter.Marshal(w => PcrSelection.WriteList(w, list));
        Assert.Equal("00000002000b03810081000403020000", Convert.ToHexStringLower(bytes));
        var parsed = PcrSelection.ReadList(new TpmReader(bytes));
        Assert.True(parsed[0].SameAs(list[0]));
        Assert.True(parsed[1].SameAs(list[1]));
    }

    [Fact]
    public void Response_codes_decode_to_named_reasons()
    {
        Assert.Equal(TpmRc.Handle, TpmException.BaseCode(0x18B));
        Assert.Equal(TpmRc.PolicyFail, TpmException.BaseCode(0x99D));
        Assert.Equal(TpmRc.Retry, TpmException.BaseCode(0x922));
        Assert.Equal(TpmRc.Initialize, TpmException.BaseCode(0x100));
        Assert.Contains("Integrity, parameter 2", new TpmException(TpmCommandCode.ActivateCredential, 0x2DF).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qualified_name_chain_matches_definition()
    {
        var name = TpmTemplates.SrkRsa2048.ComputeName();
        var qn = TpmNames.QualifiedName(TpmNames.HierarchyQualifiedName(TpmHandles.Owner), name);
        Assert.Equal(SHA256.HashData([0x40, 0, 0, 1, .. name]), qn[2..]);
    }

    [Fact]
    public void Kdfa_matches_an_independent_computation()
    {
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var derived = TpmKdf.KdfA(TpmAlgorithm.Sha256, key, "STORAGE", [1, 2], [3], 384);
        byte[] Block(uint i) => HMACSHA256.HashData(key, (byte[])[0, 0, 0, (byte)i, .. "STORAGE\0"u8, 1, 2, 3, 0, 0, 1, 0x80]);
        Assert.Equal([.. Block(1), .. Block(2)[..16]], derived);
    }

    [Fact]
    public void Labelled_oaep_decrypts_with_a_standard_implementation_when_the_label_is_empty()
    {
        using var rsa = RSA.Create(2048);
        var p = rsa.ExportParameters(false);
        var template = TpmTemplates.HostEncryptionRsa2048(new byte[32]);
        var pub = template with
        {
            Parameters = ((RsaParameters)template.Parameters) with { Modulus = p.Modulus! },
        };
        var secret = RandomNumberGenerator.GetBytes(32);
        var ct = RsaOaep.Encrypt(pub, secret, TpmAlgorithm.Sha256, []);
        Assert.Equal(secret, rsa.Decrypt(ct, RSAEncryptionPadding.OaepSHA256));
    }

    [Fact]
    public void Transport_specifications_parse_or_fail_by_name()
    {
        var ex = Assert.Throws<OpenHgs.Tpm.Transport.TpmTransportException>(() => OpenHgs.Tpm.Transport.TpmTransports.Open("swtpm:host=127.0.0.1"));
        Assert.Equal(OpenHgs.Tpm.Transport.TpmTransportError.InvalidSpecification, ex.Reason);
        ex = Assert.Throws<OpenHgs.Tpm.Transport.TpmTransportException>(() => OpenHgs.Tpm.Transport.TpmTransports.Open("swtpm:port=99999"));
        Assert.Equal(OpenHgs.Tpm.Transport.TpmTransportError.InvalidSpecification, ex.Reason);
        ex = Assert.Throws<OpenHgs.Tpm.Transport.TpmTransportException>(() => OpenHgs.Tpm.Transport.TpmTransports.Open("/nonexistent/tpmrm0"));
        Assert.Equal(OpenHgs.Tpm.Transport.TpmTransportError.ConnectFailed, ex.Reason);
    }

    [Fact]
    public void Verifiers_never_throw_on_garbage()
    {
        var random = new Random(7);
        var pcrs = new Dictionary<TpmAlgorithm, IReadOnlyDictionary<int, byte[]>>();
        var attest = SampleAttest().ToBytes();
        for (var round = 0; round < 500; round++)
        {
            var bytes = (byte[])attest.Clone();
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            var sig = new byte[random.Next(40)];
            random.NextBytes(sig);
            var q = QuoteVerifier.Verify(new QuoteVerificationInput(bytes, sig, TpmTemplates.AkRsa2048, [1], pcrs, []));
            Assert.False(q.Succeeded);
            var c = CertifyVerifier.Verify(new CertifyVerificationInput(bytes, sig, TpmTemplates.AkEccP256, [1], TpmTemplates.HostEncryptionRsa2048(new byte[32]),
                new BootBinding(PcrSelection.Create(TpmAlgorithm.Sha256, [0]), new Dictionary<int, byte[]> { [0] = new byte[32] })));
            Assert.False(c.Succeeded);
        }
    }

    private static TpmsAttest SampleAttest() => new(TpmsAttest.GeneratedValue, TpmsAttest.AttestQuote, [0, 11, .. new byte[32]], [1, 2, 3],
        new TpmsClockInfo(1, 2, 3, true), 42, new QuoteInfo([PcrSelection.Create(TpmAlgorithm.Sha256, [0, 1])], new byte[32]));
}
