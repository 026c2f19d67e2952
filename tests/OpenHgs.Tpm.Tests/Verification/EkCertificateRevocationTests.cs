using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Tpm.Tests.Verification;

/// <summary>
/// Design change 69: EK certificates checked against the CRLs an admin imported. The chain is an ECDSA root, an RSA
/// intermediate (the two signature families a CRL is verified with) and the EK certificate; CRLs are made by .NET's
/// CertificateRevocationListBuilder, and one by <c>openssl ca -gencrl</c> as the interop peer.
/// </summary>
public sealed class EkCertificateRevocationTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private static readonly byte[] EkSerial = TestEkChain.EkSerial;
    private static readonly byte[] IntermediateSerial = TestEkChain.IntermediateSerial;
    private readonly TestEkChain _chain = new();

    [Fact]
    [Trait("Attack", "A104")]
    public void A_revoked_ek_certificate_is_refused_naming_its_serial_and_the_crl_issuer()
    {
        var result = Validate(IntermediateCrl(7, [EkSerial]));
        Assert.Equal(EkCertificateFailure.Revoked, result.Failure);
        Assert.Contains("the EK certificate (serial 0123456789)", result.Detail, StringComparison.Ordinal);
        Assert.Contains("by the CRL of CN=CRL Test TPM Intermediate (number 07)", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A104")]
    public void A_revoked_intermediate_is_refused_naming_it()
    {
        var result = Validate(RootCrl(3, [IntermediateSerial]), IntermediateCrl(1, []));
        Assert.Equal(EkCertificateFailure.Revoked, result.Failure);
        Assert.Contains("the intermediate CN=CRL Test TPM Intermediate (serial 4242)", result.Detail, StringComparison.Ordinal);
        Assert.Contains("by the CRL of CN=CRL Test TPM Root", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_not_on_the_crls_is_accepted_and_no_crl_at_all_checks_nothing()
    {
        Assert.True(Validate(IntermediateCrl(2, [[0x05], IntermediateSerial]), RootCrl(2, [EkSerial])).Succeeded);
        Assert.True(Validate().Succeeded);
    }

    [Fact]
    [Trait("Attack", "A105")]
    public void A_stale_crl_of_an_issuer_of_the_chain_fails_closed()
    {
        var stale = RevocationList.Parse(_chain.IntermediateCrl(4, [], Now.AddDays(-10), Now.AddDays(-1)));
        var result = Validate(stale);
        Assert.Equal(EkCertificateFailure.CrlExpired, result.Failure);
        Assert.Contains("CN=CRL Test TPM Intermediate (number 04) was due to be replaced", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A107")]
    public void A_crl_naming_the_issuer_but_signed_by_another_key_is_not_used()
    {
        using var other = RSA.Create(2048);
        var forged = RevocationList.Parse(TestCrl.Build(_chain.Intermediate, other, 9, [EkSerial], Now.AddHours(-1), Now.AddDays(7)));
        Assert.False(forged.IsIssuedBy(_chain.Intermediate));
        Assert.True(Validate(forged).Succeeded);
        Assert.True(Validate(forged, IntermediateCrl(1, [])).Succeeded);
    }

    [Fact]
    [Trait("Attack", "A106")]
    public void An_issuer_whose_crl_could_not_be_read_intact_fails_closed()
    {
        string intermediate = Convert.ToHexStringLower(SHA256.HashData(_chain.Intermediate.RawData));
        var result = EkCertificateValidator.Validate(_chain.EkCertificate, _chain.Ek, [_chain.Root], [_chain.Intermediate], Now,
            new EkRevocationData([], new HashSet<string> { intermediate }));
        Assert.Equal(EkCertificateFailure.CrlUnavailable, result.Failure);
        Assert.Contains("the CRL of CN=CRL Test TPM Intermediate failed its integrity check", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void The_parser_reads_issuer_number_dates_and_entries()
    {
        var crl = RevocationList.Parse(_chain.IntermediateCrl(0x1234, [EkSerial, [0x7f]]));
        Assert.Equal(_chain.Intermediate.SubjectName.RawData, crl.Issuer.RawData);
        Assert.Equal(new BigInteger(0x1234), crl.Number);
        Assert.Equal("1234", crl.NumberText);
        Assert.Equal(2, crl.RevokedCount);
        Assert.NotNull(crl.Find(EkSerial));
        Assert.Null(crl.Find([0x01]));
        Assert.True(crl.IsIssuedBy(_chain.Intermediate));
        Assert.False(crl.IsIssuedBy(_chain.Root));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("trailing byte")]
    public void Bytes_that_are_not_a_crl_are_malformed(string damage)
    {
        byte[] good = IntermediateCrl(1, [EkSerial]).RawData;
        byte[] bad = damage switch
        {
            "garbage" => [0x30, 0x03, 0x02, 0x01, 0x01],
            "truncated" => good[..(good.Length / 2)],
            _ => [.. good, 0x00],
        };
        Assert.Equal(RevocationListProblem.Malformed, Assert.Throws<RevocationListException>(() => RevocationList.Parse(bad)).Problem);
    }

    [Fact]
    public void Mutated_crls_are_read_or_refused_as_a_crl_problem_never_another_exception()
    {
        // An admin imports vendor files: whatever the bytes, the parser answers a CRL or a RevocationListException.
        byte[] good = _chain.IntermediateCrl(0x77, [EkSerial, IntermediateSerial]);
        var random = new Random(69);
        int refused = 0;
        for (int i = 0; i < 3000; i++)
        {
            byte[] bad = (byte[])good.Clone();
            bad[random.Next(bad.Length)] = (byte)random.Next(256);
            if (i % 3 == 0)
            {
                bad = bad[..random.Next(1, bad.Length)];
            }

            try
            {
                RevocationList.Parse(bad);
            }
            catch (RevocationListException)
            {
                refused++;
            }
        }

        Assert.True(refused > 1000, $"only {refused} of 3000 mutations were refused");
    }

    [Fact]
    public void A_delta_crl_is_refused_as_unsupported()
    {
        // The builder cannot add a deltaCRLIndicator: a copy of a complete CRL gets one, re-signed, so only the indicator differs.
        byte[] delta = WithCrlExtension(IntermediateCrl(5, []).RawData, "2.5.29.27", [0x02, 0x01, 0x04], critical: true);
        var refused = Assert.Throws<RevocationListException>(() => RevocationList.Parse(delta));
        Assert.Equal(RevocationListProblem.Unsupported, refused.Problem);
        Assert.Contains("delta CRL", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_crl_with_an_unknown_critical_extension_is_refused_and_a_non_critical_one_is_read()
    {
        byte[] good = IntermediateCrl(5, [EkSerial]).RawData;
        var refused = Assert.Throws<RevocationListException>(() => RevocationList.Parse(WithCrlExtension(good, "1.3.6.1.4.1.55555.9", [0x05, 0x00], critical: true)));
        Assert.Equal(RevocationListProblem.Unsupported, refused.Problem);
        Assert.Contains("1.3.6.1.4.1.55555.9", refused.Message, StringComparison.Ordinal);
        Assert.NotNull(RevocationList.Parse(WithCrlExtension(good, "1.3.6.1.4.1.55555.9", [0x05, 0x00], critical: false)).Find(EkSerial));
    }

    [Fact]
    public void A_crl_made_by_openssl_ca_gencrl_is_read_and_revokes_the_ek_certificate()
    {
        string dir = Directory.CreateTempSubdirectory("openhgs-crl-openssl-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "ca.pem"), _chain.Intermediate.ExportCertificatePem());
            File.WriteAllText(Path.Combine(dir, "key.pem"), _chain.IntermediateKey.ExportPkcs8PrivateKeyPem());
            // openssl's CA database: one revoked entry (R, expiry, revocation time, serial, file, subject).
            File.WriteAllText(Path.Combine(dir, "index.txt"), "R\t300101000000Z\t240101000000Z,keyCompromise\t0123456789\tunknown\t/CN=ek\n");
            File.WriteAllText(Path.Combine(dir, "crlnumber"), "2a\n");
            File.WriteAllText(Path.Combine(dir, "ca.cnf"),
                $"[ca]\ndefault_ca = tpm\n[tpm]\ndatabase = {dir}/index.txt\ncrlnumber = {dir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n");
            using var openssl = Process.Start(new ProcessStartInfo("openssl",
                ["ca", "-batch", "-gencrl", "-config", Path.Combine(dir, "ca.cnf"), "-cert", Path.Combine(dir, "ca.pem"), "-keyfile", Path.Combine(dir, "key.pem"),
                    "-out", Path.Combine(dir, "crl.pem")]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            string error = openssl.StandardError.ReadToEnd();
            openssl.WaitForExit();
            Assert.True(openssl.ExitCode == 0, error);

            var crl = RevocationList.Parse(PemEncoding.Find(File.ReadAllText(Path.Combine(dir, "crl.pem"))) is var pem
                ? Convert.FromBase64String(File.ReadAllText(Path.Combine(dir, "crl.pem"))[pem.Base64Data]) : []);
            Assert.Equal("2a", crl.NumberText);
            Assert.True(crl.IsIssuedBy(_chain.Intermediate));
            var result = Validate(crl);
            Assert.Equal(EkCertificateFailure.Revoked, result.Failure);
            Assert.Contains("serial 0123456789", result.Detail, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private EkCertificateResult Validate(params RevocationList[] crls) =>
        EkCertificateValidator.Validate(_chain.EkCertificate, _chain.Ek, [_chain.Root], [_chain.Intermediate], Now, new EkRevocationData(crls, new HashSet<string>()));

    private RevocationList IntermediateCrl(int number, byte[][] serials) => RevocationList.Parse(_chain.IntermediateCrl(number, serials));

    private RevocationList RootCrl(int number, byte[][] serials) => RevocationList.Parse(_chain.RootCrl(number, serials));

    /// <summary>The CRL with one more CRL extension, re-signed by the intermediate (so the signature still verifies).</summary>
    private byte[] WithCrlExtension(byte[] crl, string oid, byte[] value, bool critical)
    {
        var outer = new System.Formats.Asn1.AsnReader(crl, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadSequence();
        var writer = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            var context0 = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 0, isConstructed: true);
            while (tbs.HasData && !tbs.PeekTag().HasSameClassAndValue(context0))
            {
                writer.WriteEncodedValue(tbs.ReadEncodedValue().Span);
            }

            using (writer.PushSequence(context0))
            using (writer.PushSequence())
            {
                if (tbs.HasData)
                {
                    var existing = tbs.ReadSequence(context0).ReadSequence();
                    while (existing.HasData)
                    {
                        writer.WriteEncodedValue(existing.ReadEncodedValue().Span);
                    }
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(oid);
                    if (critical)
                    {
                        writer.WriteBoolean(true);
                    }

                    writer.WriteOctetString(value);
                }
            }
        }

        byte[] signed = writer.Encode();
        byte[] signature = _chain.IntermediateKey.SignData(signed, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var result = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        using (result.PushSequence())
        {
            result.WriteEncodedValue(signed);
            result.WriteEncodedValue(outer.ReadEncodedValue().Span);
            result.WriteBitString(signature);
        }

        return result.Encode();
    }

    public void Dispose() => _chain.Dispose();
}
