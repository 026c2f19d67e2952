using System.Security.Cryptography;
using System.Text;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Hosts;

namespace OpenHgs.Service.Tests.Client;

/// <summary>
/// The host's keys as the client makes, loads and signs with them, checked by the service's own code: client and service
/// judge host signing keys by one rule (design change 65), so what the client makes registers and what it signs verifies.
/// </summary>
public sealed class HostKeyPairTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("openhgs-host-keys-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(HostSigningKeyType.P256, "ES256")]
    [InlineData(HostSigningKeyType.P384, "ES384")]
    [InlineData(HostSigningKeyType.Rsa3072, "RS256")]
    public void Each_keygen_type_registers_and_its_evidence_verifies_at_the_service(HostSigningKeyType type, string scheme)
    {
        string publicKeyFile = HostKeyPair.Generate(_folder, type);
        byte[] registered = HostKeys.ParsePublicKey(File.ReadAllText(publicKeyFile), "publicKey");
        Assert.Equal(scheme, HostSigningKeys.Judge(registered).Signature?.Name);

        using var keys = HostKeyPair.Load(_folder);
        Assert.Equal(registered, keys.SigningPublicKey);
        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        byte[] signature = keys.SignEvidence(nonce);
        byte[] message = HostKeyEvidenceMessage.Build(nonce, keys.EncryptionPublicKey);
        Assert.True(HostKeys.VerifySignature(registered, message, signature));
        Assert.False(HostKeys.VerifySignature(registered, HostKeyEvidenceMessage.Build(RandomNumberGenerator.GetBytes(32), keys.EncryptionPublicKey), signature));
    }

    [Fact]
    public void An_rsa3072_signing_key_signs_rs256()
    {
        HostKeyPair.Generate(_folder, HostSigningKeyType.Rsa3072);
        using var keys = HostKeyPair.Load(_folder);
        var rsa = Assert.IsAssignableFrom<RSA>(keys.SigningKey);
        Assert.Equal(3072, rsa.KeySize);

        byte[] nonce = RandomNumberGenerator.GetBytes(32);
        byte[] signature = keys.SignEvidence(nonce);
        Assert.Equal(384, signature.Length);
        Assert.True(rsa.VerifyData(HostKeyEvidenceMessage.Build(nonce, keys.EncryptionPublicKey), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void A_1024_bit_rsa_signing_key_is_refused_by_the_client_and_the_service_naming_its_size()
    {
        HostKeyPair.Generate(_folder);
        using var weak = RSA.Create(1024);
        OwnerOnlyFile.Replace(Path.Combine(_folder, HostKeyPair.SigningKeyFile), Encoding.ASCII.GetBytes(weak.ExportPkcs8PrivateKeyPem()));

        var client = Assert.Throws<HgsClientException>(() => HostKeyPair.Load(_folder));
        Assert.Equal("HostKeyInvalid", client.Code);
        Assert.Equal("The host signing key is one the attestation service refuses: RSA keys must be at least 2048 bits, not 1024.", client.Message);

        var service = Assert.Throws<ServiceException>(() => HostKeys.ParsePublicKey(weak.ExportSubjectPublicKeyInfoPem(), "publicKey"));
        Assert.Equal("PublicKeyUnsupported", service.Code);
        Assert.Equal("publicKey: RSA keys must be at least 2048 bits, not 1024.", service.Message);

        // Nor would a genuine RS256 signature by it verify, had such a key been registered some other way.
        byte[] message = RandomNumberGenerator.GetBytes(64);
        Assert.False(HostKeys.VerifySignature(weak.ExportSubjectPublicKeyInfo(), message, weak.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)));
    }

    [Fact]
    public void A_pkcs1_rsa_signing_key_made_elsewhere_loads()
    {
        HostKeyPair.Generate(_folder);
        using var rsa = RSA.Create(2048);
        OwnerOnlyFile.Replace(Path.Combine(_folder, HostKeyPair.SigningKeyFile), Encoding.ASCII.GetBytes(rsa.ExportRSAPrivateKeyPem()));

        using var keys = HostKeyPair.Load(_folder);
        Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), keys.SigningPublicKey);
    }

    [Fact]
    public void A_signing_key_file_that_is_no_key_is_refused_as_unreadable()
    {
        HostKeyPair.Generate(_folder);
        OwnerOnlyFile.Replace(Path.Combine(_folder, HostKeyPair.SigningKeyFile), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"u8.ToArray());

        var error = Assert.Throws<HgsClientException>(() => HostKeyPair.Load(_folder));
        Assert.Equal("HostKeyInvalid", error.Code);
        Assert.Contains("neither an EC nor an RSA private key", error.Message, StringComparison.Ordinal);
    }
}
