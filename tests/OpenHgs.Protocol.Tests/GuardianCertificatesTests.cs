using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.Tests.Support;

namespace OpenHgs.Protocol.Tests;

public sealed class GuardianCertificatesTests
{
    private static readonly DateTimeOffset NotBefore = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset NotAfter = NotBefore.AddYears(10);

    [Fact]
    public void Issues_the_profile_the_format_requires()
    {
        using var signingKey = TestKeys.Next();
        using var encryptionKey = TestKeys.Next();
        var (signingDer, encryptionDer) = GuardianCertificates.Issue("Contoso, \"Tenant\"", signingKey, encryptionKey, NotBefore, NotAfter);
        using var signing = X509CertificateLoader.LoadCertificate(signingDer);
        using var encryption = X509CertificateLoader.LoadCertificate(encryptionDer);

        Assert.Equal("Contoso, \"Tenant\" Signing", signing.GetNameInfo(X509NameType.SimpleName, false));
        Assert.Equal("Contoso, \"Tenant\" Encryption", encryption.GetNameInfo(X509NameType.SimpleName, false));
        Assert.Equal(signing.SubjectName.RawData, signing.IssuerName.RawData);
        Assert.Equal(signing.SubjectName.RawData, encryption.IssuerName.RawData);
        Assert.NotEqual(signing.SerialNumber, encryption.SerialNumber);
        Assert.Equal(16, signing.SerialNumberBytes.Length);
        Assert.Equal("1.2.840.113549.1.1.11", encryption.SignatureAlgorithm.Value); // sha256WithRSAEncryption

        var signingConstraints = Assert.Single(signing.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.True(signingConstraints.CertificateAuthority);
        Assert.True(signingConstraints.HasPathLengthConstraint);
        Assert.Equal(0, signingConstraints.PathLengthConstraint);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, Assert.Single(signing.Extensions.OfType<X509KeyUsageExtension>()).KeyUsages);
        Assert.Equal(X509KeyUsageFlags.KeyEncipherment, Assert.Single(encryption.Extensions.OfType<X509KeyUsageExtension>()).KeyUsages);
        Assert.False(Assert.Single(encryption.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
        Assert.Equal(NotBefore, new DateTimeOffset(encryption.NotBefore.ToUniversalTime()));

        // The chain builds: the encryption certificate is issued by the signing certificate.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(signing);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = NotBefore.AddDays(1).UtcDateTime;
        Assert.True(chain.Build(encryption), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));

        new GuardianMetadata("Contoso, \"Tenant\"", signingDer, encryptionDer, ["RSA-OAEP-256"]).Validate();
    }

    [Fact]
    public void Works_with_keys_that_refuse_private_export()
    {
        using var signingKey = NonExportableRsa.Create2048();
        using var encryptionKey = NonExportableRsa.Create2048();
        Assert.Throws<CryptographicException>(() => signingKey.ExportPkcs8PrivateKey());

        var (signingDer, encryptionDer) = GuardianCertificates.Issue("HSM Fabric", signingKey, encryptionKey, NotBefore, NotAfter);

        Assert.Equal(2, signingKey.SignCount); // both certificates, signed through SignHash
        Assert.Equal(0, encryptionKey.SignCount);
        new GuardianMetadata("HSM Fabric", signingDer, encryptionDer, ["RSA-OAEP"]).Validate();
    }

    [Fact]
    public void Works_with_the_key_store_adapter()
    {
        using var store = new FakeKeyStore();
        store.CreateKey(new CreateKeyRequest("kps-signing", KeyAlgorithm.Rsa2048, KeyUsage.Sign));
        store.CreateKey(new CreateKeyRequest("kps-encryption", KeyAlgorithm.Rsa2048, KeyUsage.Decrypt));
        using var signingKey = store.GetRsa("kps-signing");
        using var encryptionKey = store.GetRsa("kps-encryption");

        var (signingDer, encryptionDer) = GuardianCertificates.Issue("HSM Fabric", signingKey, encryptionKey, NotBefore, NotAfter);

        new GuardianMetadata("HSM Fabric", signingDer, encryptionDer, ["RSA-OAEP"]).Validate();
    }

    [Theory]
    [InlineData("")]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("line\nbreak")]
    [InlineData("an-extremely-long-guardian-name-that-goes-on-and-on-beyond-64-chars")]
    public void Refuses_invalid_names(string name)
    {
        using var key = TestKeys.Next();
        Assert.Throws<ArgumentException>(() => GuardianCertificates.Issue(name, key, key, NotBefore, NotAfter));
    }

    [Fact]
    public void Refuses_small_keys_and_empty_validity()
    {
        using var small = RSA.Create(1024);
        using var key = TestKeys.Next();
        Assert.Throws<ArgumentException>(() => GuardianCertificates.Issue("x", small, key, NotBefore, NotAfter));
        Assert.Throws<ArgumentException>(() => GuardianCertificates.Issue("x", key, small, NotBefore, NotAfter));
        Assert.Throws<ArgumentException>(() => GuardianCertificates.Issue("x", key, key, NotAfter, NotBefore));
    }
}
