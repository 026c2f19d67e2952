using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Server.Configuration;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// Issue 12 §2: a KPS whose signing key is EC P-256 (the default) rolls released key protectors with an ES256 guardian
/// signature (version 2) that the host and the owner verify; an RSA KPS signing key still rolls RS256 (version 1).
/// Through the software store and a SoftHSM2 token.
/// </summary>
public sealed class Es256ReleaseTests
{
    [Theory]
    [InlineData(StoreKind.Software, null, "ES256", 2)]
    [InlineData(StoreKind.SoftHsm, KeyAlgorithm.EcP256, "ES256", 2)]
    [InlineData(StoreKind.Software, KeyAlgorithm.Rsa2048, "RS256", 1)]
    [InlineData(StoreKind.SoftHsm, KeyAlgorithm.Rsa2048, "RS256", 1)]
    public async Task A_release_rolls_the_key_protector_with_the_kps_signing_keys_algorithm(StoreKind kind, KeyAlgorithm? signingKey, string algorithm, int version)
    {
        await using var service = await ServiceHarness.StartAsync(kind, kpsSigningKey: signingKey);
        Assert.Equal(signingKey is KeyAlgorithm.Rsa2048 ? "rsa-2048" : "ec-p256", HgsConfiguration.Load(service.DataDirectory).KpsSigningKeyAlgorithm);
        var fabric = await service.FabricGuardianAsync();
        using (var certificate = X509CertificateLoader.LoadCertificate(fabric.SigningCertificate))
        using (var ec = certificate.GetECDsaPublicKey())
        {
            Assert.Equal(algorithm == "ES256", ec is not null);
        }

        using var owner = LocalGuardian.Create("es256-owner", TimeProvider.System);
        byte[] transportKey = RandomNumberGenerator.GetBytes(32);
        byte[] protector = KeyProtectorBuilder.Create(owner, [fabric], transportKey).ToJson();
        var host = await service.AddHostAsync("es256-host");
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        // The host verifies the egress key protector before returning anything; the owner does too.
        var outcome = await client.UnlockAsync(protector, CancellationToken.None);
        Assert.Equal(transportKey, outcome.TransportKey);
        var egress = KeyProtector.Parse(outcome.EgressKeyProtector);
        Assert.Equal(algorithm, egress.GuardianSignature.Algorithm);
        Assert.Equal(version, egress.Version);
        KeyProtectorVerifier.VerifySignatures(egress);
        Assert.Equal(outcome.EgressTransportKey, KeyProtectorBuilder.UnwrapAsOwner(egress, owner));

        // The rolled key protector releases again, and a tampered guardian signature on it is refused by its own code.
        var again = await client.UnlockAsync(outcome.EgressKeyProtector, CancellationToken.None);
        Assert.Equal(outcome.EgressTransportKey, again.TransportKey);
        var refused = await Assert.ThrowsAsync<HgsClientException>(() => client.UnlockAsync(TamperGuardianSignature(outcome.EgressKeyProtector), CancellationToken.None));
        Assert.Equal("KeyProtectorGuardianSignatureInvalid", refused.Code);
    }

    [Fact]
    public void An_unknown_kps_signing_key_type_in_hgs_json_stops_the_start_naming_the_field()
    {
        string data = Directory.CreateTempSubdirectory("openhgs-kps-signing-").FullName;
        try
        {
            new HgsConfiguration(1, "software:", "sqlite:hgs.db") { KpsSigningKeyAlgorithm = "ec-p384" }.Save(data);
            var error = Assert.Throws<HgsConfigurationException>(() => HgsConfiguration.Load(data));
            Assert.Equal("kpsSigningKeyAlgorithm", error.Field);
            Assert.Contains("ec-p384", error.Message, StringComparison.Ordinal);

            // Absent (a folder from before the setting): new signing keys stay RSA-2048.
            new HgsConfiguration(1, "software:", "sqlite:hgs.db").Save(data);
            Assert.Equal(KeyAlgorithm.Rsa2048, HgsConfiguration.Load(data).FabricKeyOptions.KpsSigningKeyAlgorithm);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static byte[] TamperGuardianSignature(byte[] json)
    {
        var envelope = JsonNode.Parse(json)!.AsObject();
        var signature = envelope["guardianSignature"]!.AsObject();
        byte[] value = System.Buffers.Text.Base64Url.DecodeFromChars(signature["value"]!.GetValue<string>());
        value[7] ^= 0x01;
        signature["value"] = System.Buffers.Text.Base64Url.EncodeToString(value);
        return System.Text.Encoding.UTF8.GetBytes(envelope.ToJsonString());
    }
}
