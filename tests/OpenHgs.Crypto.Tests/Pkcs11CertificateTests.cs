using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto.Pkcs11;

namespace OpenHgs.Crypto.Tests;

/// <summary>HSM keys seen by .NET as RSA/ECDsa sign certificates that verify.</summary>
public sealed class Pkcs11CertificateTests(Pkcs11StoreFixture fixture) : IClassFixture<Pkcs11StoreFixture>
{
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    private const string RsaWithSha256 = "1.2.840.113549.1.1.11";
    private const string RsaPss = "1.2.840.113549.1.1.10";

    private static readonly X500DistinguishedName GuardianName = new("CN=OpenHGS test guardian");

    private readonly Pkcs11KeyStore _store = fixture.Store;

    [Fact]
    public void Ecdsa_key_signs_a_self_signed_guardian_certificate_that_verifies()
    {
        using KeyStoreECDsa key = _store.GetECDsa(Pkcs11StoreFixture.EcSignLabel);
        using X509Certificate2 certificate = CreateSelfSignedCa(new CertificateRequest(GuardianName, key, HashAlgorithmName.SHA256), X509SignatureGenerator.CreateForECDsa(key));

        (string algorithm, byte[] tbs, byte[] signature) = SplitCertificate(certificate);
        Assert.Equal(EcdsaWithSha256, algorithm);
        using ECDsa publicKey = certificate.GetECDsaPublicKey()!;
        Assert.Equal(fixture.EcSign.SubjectPublicKeyInfo, publicKey.ExportSubjectPublicKeyInfo());
        Assert.True(publicKey.VerifyData(tbs, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public void Ecdsa_key_exports_the_public_key_info_OpenSSL_exports_as_an_independent_copy()
    {
        using KeyStoreECDsa key = _store.GetECDsa(Pkcs11StoreFixture.EcSignLabel);
        using ECDsa openSsl = ECDsa.Create(key.ExportParameters(includePrivateParameters: false));
        byte[] expected = openSsl.ExportSubjectPublicKeyInfo();

        byte[] first = key.ExportSubjectPublicKeyInfo();
        Assert.Equal(expected, first);
        Assert.Equal(fixture.EcSign.SubjectPublicKeyInfo, first);
        first[^1] ^= 0xFF;
        Assert.Equal(expected, key.ExportSubjectPublicKeyInfo());

        var tooSmall = new byte[expected.Length - 1];
        Assert.False(key.TryExportSubjectPublicKeyInfo(tooSmall, out int none));
        Assert.Equal(0, none);
        var exact = new byte[expected.Length];
        Assert.True(key.TryExportSubjectPublicKeyInfo(exact, out int written));
        Assert.Equal(expected.Length, written);
        Assert.Equal(expected, exact);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rsa_key_signs_a_self_signed_guardian_certificate_that_verifies(bool pss)
    {
        RSASignaturePadding padding = pss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        using KeyStoreRsa key = _store.GetRsa(Pkcs11StoreFixture.RsaSignLabel);
        var request = new CertificateRequest(GuardianName, key, HashAlgorithmName.SHA256, padding);
        if (pss && !_store.Capabilities.RsaPss)
        {
            Assert.Throws<KeyStoreOperationException>(() => CreateSelfSignedCa(request, X509SignatureGenerator.CreateForRSA(key, padding)));
            return;
        }

        using X509Certificate2 certificate = CreateSelfSignedCa(request, X509SignatureGenerator.CreateForRSA(key, padding));

        (string algorithm, byte[] tbs, byte[] signature) = SplitCertificate(certificate);
        Assert.Equal(pss ? RsaPss : RsaWithSha256, algorithm);
        using RSA publicKey = certificate.GetRSAPublicKey()!;
        Assert.True(publicKey.VerifyData(tbs, signature, HashAlgorithmName.SHA256, padding));
    }

    [Fact]
    public void Leaf_issued_by_the_hsm_key_chains_to_the_hsm_certificate_and_a_forgery_does_not()
    {
        using KeyStoreECDsa caKey = _store.GetECDsa(Pkcs11StoreFixture.EcSignLabel);
        X509SignatureGenerator hsm = X509SignatureGenerator.CreateForECDsa(caKey);
        using X509Certificate2 ca = CreateSelfSignedCa(new CertificateRequest(GuardianName, caKey, HashAlgorithmName.SHA256), hsm);

        using ECDsa hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 leaf = CreateLeaf(hostKey, ca, hsm);
        Assert.True(Chains(leaf, ca, out string status), status);

        // Same issuer name and key identifier, signed by some other key: must not chain, or the check above proves nothing.
        using ECDsa impostor = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 forged = CreateLeaf(hostKey, ca, X509SignatureGenerator.CreateForECDsa(impostor));
        Assert.False(Chains(forged, ca, out _));
    }

    private static X509Certificate2 CreateSelfSignedCa(CertificateRequest request, X509SignatureGenerator generator)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.Create(request.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), [0x01, 0x02, 0x03]);
    }

    private static X509Certificate2 CreateLeaf(ECDsa hostKey, X509Certificate2 ca, X509SignatureGenerator issuer)
    {
        var request = new CertificateRequest("CN=host.example", hostKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.Create(ca.SubjectName, issuer, now.AddMinutes(-1), now.AddHours(1), [0x10, 0x20]);
    }

    private static bool Chains(X509Certificate2 leaf, X509Certificate2 root, out string status)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        bool built = chain.Build(leaf);
        status = string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation}"));
        return built;
    }

    /// <summary>Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }.</summary>
    private static (string Algorithm, byte[] Tbs, byte[] Signature) SplitCertificate(X509Certificate2 certificate)
    {
        AsnReader outer = new AsnReader(certificate.RawData, AsnEncodingRules.DER).ReadSequence();
        byte[] tbs = outer.ReadEncodedValue().ToArray();
        string algorithm = outer.ReadSequence().ReadObjectIdentifier();
        byte[] signature = outer.ReadBitString(out _);
        return (algorithm, tbs, signature);
    }
}
