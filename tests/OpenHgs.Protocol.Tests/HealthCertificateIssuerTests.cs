using System.Diagnostics;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

/// <summary>
/// The issuer writes health certificates itself (design change 56). The main test pins that the TBSCertificate it
/// writes is byte for byte the one <see cref="CertificateRequest"/> wrote before, for the same serial; the others that
/// the result parses, verifies (in .NET, in the validator and in openssl) and is refused once altered.
/// </summary>
public sealed class HealthCertificateIssuerTests : IDisposable
{
    private static readonly DateTimeOffset IssuedAt = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
    private static readonly Lazy<RSA> Rsa3072 = new(() => RSA.Create(3072));

    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-health-issuer-").FullName;

    public static TheoryData<string> KnownAnswerCases => new(Cases.Keys);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["host-key mode, 8 h, RSA-2048, P-256 signer"] = new("host-1", IssuedAt, TimeSpan.FromHours(8), AttestationMode.HostKey, 3, HostKey.Rsa2048, SignerKind.P256),
        ["TPM mode, non-ASCII host name, local offset with fractional seconds, 1 min"] = new(
            "hôte-ünïcødé-主机-😀", new DateTimeOffset(2026, 3, 1, 0, 0, 0, 123, TimeSpan.FromHours(2)).AddTicks(4567), TimeSpan.FromMinutes(1), AttestationMode.Tpm, int.MaxValue, HostKey.Rsa2048, SignerKind.P256),
        ["host name over 127 bytes (long-form lengths)"] = new(new string('h', 300) + ".example", IssuedAt, TimeSpan.FromDays(30), AttestationMode.Tpm, 0, HostKey.Rsa2048, SignerKind.P256),
        ["notAfter after 2049 (UTCTime, then GeneralizedTime)"] = new("host-2049", new DateTimeOffset(2049, 12, 31, 23, 0, 0, TimeSpan.Zero), TimeSpan.FromHours(8), AttestationMode.HostKey, 1, HostKey.Rsa2048, SignerKind.P256),
        ["notBefore before 1950 (GeneralizedTime, then UTCTime)"] = new("host-1949", new DateTimeOffset(1950, 1, 1, 0, 2, 0, TimeSpan.Zero), TimeSpan.FromHours(1), AttestationMode.HostKey, 1, HostKey.Rsa2048, SignerKind.P256),
        ["both after 2049, zero validity"] = new("host-2100", new DateTimeOffset(2100, 6, 1, 8, 30, 15, TimeSpan.Zero), TimeSpan.Zero, AttestationMode.Tpm, 7, HostKey.Rsa2048, SignerKind.P256),
        ["RSA-3072 host key"] = new("host-3072", IssuedAt, TimeSpan.FromHours(8), AttestationMode.Tpm, 2, HostKey.Rsa3072, SignerKind.P256),
        ["RSA-2048 host key without NULL parameters"] = new("host-noparams", IssuedAt, TimeSpan.FromHours(8), AttestationMode.HostKey, 2, HostKey.Rsa2048WithoutNull, SignerKind.P256),
        ["P-384 signer, four-attribute signer name, 8-byte key identifier"] = new("host-p384", IssuedAt, TimeSpan.FromHours(8), AttestationMode.HostKey, 5, HostKey.Rsa2048, SignerKind.P384),
    };

    private enum HostKey
    {
        Rsa2048,
        Rsa2048WithoutNull,
        Rsa3072,
    }

    private enum SignerKind
    {
        P256,
        P384,
    }

    [Theory]
    [MemberData(nameof(KnownAnswerCases))]
    public void The_tbs_certificate_is_byte_identical_to_the_one_CertificateRequest_wrote(string name)
    {
        var c = Cases[name];
        using var signerKey = ECDsa.Create(c.Signer == SignerKind.P256 ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384);
        using var signerCertificate = c.Signer == SignerKind.P256
            ? SignerCertificate("CN=OpenHGS attestation signer att-1", signerKey)
            : SignerCertificate("C=US, O=Contoso, OU=Attestation, CN=OpenHGS attestation signer att-2", signerKey, subjectKeyIdentifier: [1, 2, 3, 4, 5, 6, 7, 8]);
        var claims = new HealthClaims(c.Mode, c.PolicyVersion, SHA256.HashData(Encoding.UTF8.GetBytes(name)), c.HostName, c.IssuedAt);
        var request = new HealthCertificateRequest(claims, HostKeySpki(c.HostKey), c.Validity);

        byte[] issued = HealthCertificateIssuer.Issue(request, new HealthCertificateSigner(signerCertificate, signerKey));

        var (tbs, algorithm, _) = Split(issued);
        byte[] serial = Serial(tbs);
        var (referenceTbs, referenceAlgorithm) = Reference(request, signerCertificate, signerKey, serial);
        Assert.Equal(Convert.ToHexString(referenceTbs), Convert.ToHexString(tbs));
        Assert.Equal(referenceAlgorithm, algorithm);
    }

    [Fact]
    public void The_serial_is_16_random_bytes_positive_without_a_leading_zero()
    {
        using var signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signerCertificate = SignerCertificate("CN=signer", signerKey);
        var signer = new HealthCertificateSigner(signerCertificate, signerKey);
        var request = Request("host-serial", IssuedAt, HostKeySpki(HostKey.Rsa2048));

        var serials = Enumerable.Range(0, 32).Select(_ => Serial(Split(HealthCertificateIssuer.Issue(request, signer)).Tbs)).ToList();

        Assert.All(serials, s => Assert.True(s.Length == 16 && s[0] is >= 0x01 and <= 0x7F, Convert.ToHexString(s)));
        Assert.Equal(serials.Count, serials.Select(Convert.ToHexString).Distinct().Count());
    }

    [Fact]
    public async Task A_certificate_signed_in_the_key_store_parses_verifies_and_is_accepted_by_the_validator_and_openssl()
    {
        using var store = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(_directory, Production: false));
        var stored = store.CreateKey(new CreateKeyRequest("openhgs-att-test", KeyAlgorithm.EcP256, KeyUsage.Sign));
        using var signerKey = new KeyStoreECDsa(store, stored); // the service's HSM adapter: SignHash in the store, r‖s
        using var signerCertificate = SignerCertificate("CN=OpenHGS attestation signer att-store", signerKey);
        var now = DateTimeOffset.UtcNow;
        using var hostKey = TestKeys.Next();
        var request = Request("openssl-host", now, hostKey.ExportSubjectPublicKeyInfo());

        byte[] issued = HealthCertificateIssuer.Issue(request, new HealthCertificateSigner(signerCertificate, signerKey));

        using (var certificate = X509CertificateLoader.LoadCertificate(issued))
        {
            Assert.Equal(issued, certificate.RawData);
            Assert.Equal("O=OpenHGS guarded host, CN=openssl-host", certificate.Subject); // RFC 4514 order: the DER's last RDN first
            Assert.Equal(signerCertificate.SubjectName.RawData, certificate.IssuerName.RawData);
            Assert.Equal(hostKey.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
        }

        var (tbs, algorithm, signature) = Split(issued);
        Assert.Equal("1.2.840.10045.4.3.2", algorithm);
        using (var signerPublic = signerCertificate.GetECDsaPublicKey()!)
        {
            Assert.True(signerPublic.VerifyData(tbs, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }

        var validated = new HealthCertificateValidator([signerCertificate.RawData]).Validate(issued, now.AddMinutes(1), null);
        Assert.Equal("openssl-host", validated.Claims.HostName);
        Assert.Equal(AttestationMode.HostKey, validated.Claims.Mode);
        Assert.Equal(request.Claims.EvidenceDigest, validated.Claims.EvidenceDigest);
        Assert.Equal(hostKey.ExportSubjectPublicKeyInfo(), validated.HostEncryptionPublicKey);

        string health = WritePem("health.pem", issued);
        string signerPem = WritePem("signer.pem", signerCertificate.RawData);
        var text = await OpenSslAsync("x509", "-inform", "DER", "-in", WriteFile("health.der", issued), "-noout", "-text");
        Assert.True(text.ExitCode == 0, text.Output);
        Assert.Contains("Signature Algorithm: ecdsa-with-SHA256", text.Output, StringComparison.Ordinal);
        Assert.Contains("Subject: CN = openssl-host, O = OpenHGS guarded host", text.Output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Key Usage: critical", text.Output, StringComparison.Ordinal);
        Assert.Contains("Public-Key: (2048 bit)", text.Output, StringComparison.Ordinal);
        var verified = await OpenSslAsync("verify", "-x509_strict", "-CAfile", signerPem, health);
        Assert.True(verified.ExitCode == 0, verified.Output);
        Assert.Equal($"{health}: OK", verified.Output.Trim());
    }

    [Fact]
    public void A_certificate_with_one_altered_tbs_byte_is_refused_as_not_signed_by_the_signer()
    {
        using var signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signerCertificate = SignerCertificate("CN=signer", signerKey);
        byte[] issued = HealthCertificateIssuer.Issue(Request("host-tamper", IssuedAt, HostKeySpki(HostKey.Rsa2048)), new HealthCertificateSigner(signerCertificate, signerKey));
        var validator = new HealthCertificateValidator([signerCertificate.RawData]);
        validator.Validate(issued, IssuedAt.AddMinutes(1), null);

        // The subject's host name ("host-tamper" → "host-tampes"): still valid DER, so only the signature can tell.
        byte[] tampered = (byte[])issued.Clone();
        int at = tampered.AsSpan().IndexOf("host-tamper"u8);
        Assert.True(at > 0 && at < Split(issued).Tbs.Length);
        tampered[at + "host-tamper".Length - 1] = (byte)'s';

        var refused = Assert.Throws<HealthCertificateException>(() => validator.Validate(tampered, IssuedAt.AddMinutes(1), null));
        Assert.Equal(HealthCertificateError.UntrustedSigner, refused.Error);
    }

    [Fact]
    public void A_host_key_that_is_not_rsa_of_at_least_2048_bits_is_refused_as_before()
    {
        using var signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var signerCertificate = SignerCertificate("CN=signer", signerKey);
        var signer = new HealthCertificateSigner(signerCertificate, signerKey);
        using var rsa1024 = RSA.Create(1024);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] trailing = [.. HostKeySpki(HostKey.Rsa2048), 0x00];

        foreach (byte[] spki in new byte[][] { rsa1024.ExportSubjectPublicKeyInfo(), ec.ExportSubjectPublicKeyInfo(), trailing, [0x30, 0x00] })
        {
            var refused = Assert.Throws<CryptographicException>(() => HealthCertificateIssuer.Issue(Request("host-weak", IssuedAt, spki), signer));
            Assert.Equal("The host encryption key must be RSA of at least 2048 bits.", refused.Message);
        }
    }

    [Fact]
    public void A_signer_whose_certificate_is_not_for_its_ec_key_is_refused_when_built()
    {
        using var signerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var otherCertificate = SignerCertificate("CN=other", otherKey);
        var mismatch = Assert.Throws<CryptographicException>(() => new HealthCertificateSigner(otherCertificate, signerKey));
        Assert.Contains("not the public key", mismatch.Message, StringComparison.Ordinal);

        using var rsa = TestKeys.Next();
        var rsaRequest = new CertificateRequest("CN=rsa signer", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rsaRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rsaRequest.PublicKey, false));
        using var rsaCertificate = rsaRequest.CreateSelfSigned(IssuedAt.AddDays(-1), IssuedAt.AddYears(1));
        var notEc = Assert.Throws<CryptographicException>(() => new HealthCertificateSigner(rsaCertificate, signerKey));
        Assert.Contains("signed with ECDSA", notEc.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>The issuer as it was before design change 56 (CertificateRequest), for the serial the new one drew.</summary>
    private static (byte[] Tbs, string Algorithm) Reference(HealthCertificateRequest request, X509Certificate2 signerCertificate, ECDsa signerKey, byte[] serial)
    {
        var hostKey = PublicKey.CreateFromSubjectPublicKeyInfo(request.HostEncryptionPublicKey, out _);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName("OpenHGS guarded host");
        subject.AddCommonName(request.Claims.HostName);
        var certificateRequest = new CertificateRequest(subject.Build(), hostKey, HashAlgorithmName.SHA256);
        certificateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        certificateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true));
        certificateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(hostKey, false));
        certificateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signerCertificate, true, false));
        certificateRequest.CertificateExtensions.Add(new X509Extension(HealthCertificateProfile.VerdictExtensionOid, HealthCertificateProfile.EncodeVerdict(request.Claims), critical: false));
        var issuedAt = request.Claims.IssuedAt;
        using var certificate = certificateRequest.Create(signerCertificate.SubjectName, X509SignatureGenerator.CreateForECDsa(signerKey), issuedAt - HealthCertificateProfile.NotBeforeSkew, issuedAt + request.Validity, serial);
        var (tbs, algorithm, _) = Split(certificate.RawData);
        return (tbs, algorithm);
    }

    /// <summary>Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, strictly DER.</summary>
    private static (byte[] Tbs, string Algorithm, byte[] Signature) Split(byte[] certificate)
    {
        var outer = new AsnReader(certificate, AsnEncodingRules.DER);
        var sequence = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        byte[] tbs = sequence.ReadEncodedValue().ToArray();
        var algorithm = sequence.ReadSequence();
        string oid = algorithm.ReadObjectIdentifier();
        algorithm.ThrowIfNotEmpty();
        byte[] signature = sequence.ReadBitString(out int unused);
        sequence.ThrowIfNotEmpty();
        Assert.Equal(0, unused);
        return (tbs, oid, signature);
    }

    private static byte[] Serial(byte[] tbs)
    {
        var fields = new AsnReader(tbs, AsnEncodingRules.DER).ReadSequence();
        fields.ReadEncodedValue(); // [0] version
        return fields.ReadIntegerBytes().ToArray();
    }

    private static HealthCertificateRequest Request(string hostName, DateTimeOffset issuedAt, byte[] hostKey) =>
        new(new HealthClaims(AttestationMode.HostKey, 1, SHA256.HashData("evidence"u8), hostName, issuedAt), hostKey, TimeSpan.FromHours(8));

    private static byte[] HostKeySpki(HostKey kind)
    {
        switch (kind)
        {
            case HostKey.Rsa3072:
                return Rsa3072.Value.ExportSubjectPublicKeyInfo();
            case HostKey.Rsa2048WithoutNull:
                using (var rsa = TestKeys.Next())
                {
                    var writer = new AsnWriter(AsnEncodingRules.DER);
                    using (writer.PushSequence())
                    {
                        using (writer.PushSequence())
                        {
                            writer.WriteObjectIdentifier(SubjectPublicKeyInfoReader.RsaEncryptionOid);
                        }

                        writer.WriteBitString(rsa.ExportRSAPublicKey());
                    }

                    return writer.Encode();
                }

            default:
                using (var rsa = TestKeys.Next())
                {
                    return rsa.ExportSubjectPublicKeyInfo();
                }
        }
    }

    /// <summary>Made as <c>FabricCertificates.IssueSelfSigned</c> makes the attestation signer's (a CA with a key identifier).</summary>
    private static X509Certificate2 SignerCertificate(string subject, ECDsa key, byte[]? subjectKeyIdentifier = null)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(subjectKeyIdentifier is null
            ? new X509SubjectKeyIdentifierExtension(request.PublicKey, false)
            : new X509SubjectKeyIdentifierExtension(subjectKeyIdentifier, false));
        // Create, not CreateSelfSigned: that one would export the private key, which a key store key refuses.
        return request.Create(request.SubjectName, X509SignatureGenerator.CreateForECDsa(key), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), RandomNumberGenerator.GetBytes(8));
    }

    private string WriteFile(string name, byte[] bytes)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WritePem(string name, byte[] certificate)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, PemEncoding.WriteString("CERTIFICATE", certificate) + "\n");
        return path;
    }

    /// <summary>Runs the installed openssl (a missing one fails the test), stdout and stderr together.</summary>
    private static async Task<(int ExitCode, string Output)> OpenSslAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private sealed record Case(string HostName, DateTimeOffset IssuedAt, TimeSpan Validity, AttestationMode Mode, int PolicyVersion, HostKey HostKey, SignerKind Signer);
}
