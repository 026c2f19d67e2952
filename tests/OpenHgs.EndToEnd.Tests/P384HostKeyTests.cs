using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// A host whose registered signing key is on P-384, through the real client against the real service. The service
/// verifies ES256 for P-256 keys and ES384 for P-384 keys (the hash follows the curve); a client that always signed
/// with SHA-256 left every P-384 host refused <c>SignatureInvalid</c>.
/// </summary>
public sealed class P384HostKeyTests : IAsyncLifetime
{
    private ServiceHarness _service = null!;

    public async Task InitializeAsync() => _service = await ServiceHarness.StartAsync();

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    public async Task A_host_registered_with_a_p384_key_attests_and_unlocks_through_the_client()
    {
        var host = await AddHostWithSigningKeyAsync("host-p384", ECCurve.NamedCurves.nistP384);
        using var client = host.Client();

        var outcome = await client.AttestAsync(CancellationToken.None);

        Assert.True(outcome.Passed, string.Join("; ", outcome.Response.Reasons.Select(r => $"{r.Code}: {r.Message}")));
        Assert.Equal("Passed", outcome.Response.Status);
        Assert.Empty(outcome.Response.Reasons);
        using (var keys = HostKeyPair.Load(host.KeyDirectory))
        using (var certificate = X509CertificateLoader.LoadCertificate(outcome.HealthCertificate!))
        {
            Assert.Equal(keys.EncryptionPublicKey, certificate.PublicKey.ExportSubjectPublicKeyInfo());
        }

        // The certificate it got is good for a release, like a P-256 host's.
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await _service.FabricGuardianAsync());
        var unlocked = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, unlocked.TransportKey);

        var records = await _service.Admin.ReadAuditAsync(100, CancellationToken.None);
        Assert.Contains(records, r => r.Event == "attestation.attest" && r.Outcome == "success" && r.Subject == "host-p384");
        Assert.DoesNotContain(records, r => r.Event == "attestation.attest" && r.Outcome != "success");
    }

    [Fact]
    public async Task The_client_signs_es384_with_a_p384_key_and_es256_with_a_p256_key()
    {
        var p384 = await AddHostWithSigningKeyAsync("host-p384", ECCurve.NamedCurves.nistP384);
        var p256 = await _service.AddHostAsync("host-p256");
        foreach (var (host, hash, length) in new[] { (p384, HashAlgorithmName.SHA384, 96), (p256, HashAlgorithmName.SHA256, 64) })
        {
            using var client = host.Client();
            var challenge = await client.ChallengeAsync(CancellationToken.None);
            var evidence = client.BuildEvidence(challenge).HostKey!;
            byte[] signature = Convert.FromBase64String(evidence.Signature);
            byte[] message = HostKeyEvidenceMessage.Build(System.Buffers.Text.Base64Url.DecodeFromChars(challenge.Nonce), Convert.FromBase64String(evidence.EncryptionPublicKey));
            using var signer = ECDsa.Create();
            signer.ImportSubjectPublicKeyInfo(Convert.FromBase64String(evidence.SigningPublicKey), out _);

            Assert.Equal(length, signature.Length); // r‖s
            Assert.True(signer.VerifyData(message, signature, hash), host.Name);
            Assert.Equal("Passed", (await client.SubmitAsync(new AttestRequest(challenge.Nonce, evidence), CancellationToken.None)).Response.Status);
        }
    }

    [Fact]
    public async Task A_signing_key_on_a_curve_the_service_refuses_is_refused_by_the_client_too()
    {
        // The service will not register it (design change 61), and the client will not sign with it: no hash is right.
        var host = await AddHostWithSigningKeyAsync("host-k1", ECCurve.CreateFromValue("1.3.132.0.10"), register: false);
        var registration = await Assert.ThrowsAsync<HgsClientException>(() => _service.Admin.AddHostKeyAsync("host-k1", File.ReadAllText(host.PublicKeyFile), CancellationToken.None));
        Assert.Equal("PublicKeyUnsupported", registration.Code);

        using var client = host.Client();
        var challenge = await client.ChallengeAsync(CancellationToken.None);
        var refused = Assert.Throws<HgsClientException>(() => client.BuildEvidence(challenge));
        Assert.Equal("HostKeyInvalid", refused.Code);
        Assert.Null(refused.HttpStatus);
        Assert.Equal("The host signing key is one the attestation service refuses: EC keys must be on P-256 or P-384, not 1.3.132.0.10 (secp256k1).", refused.Message);
    }

    /// <summary>
    /// A host whose signing key is on <paramref name="curve"/>: <c>hgs client keygen</c> makes P-256, so its key is
    /// replaced in the key folder (PKCS#8 PEM, 0600), as an admin with a key made elsewhere would, then registered.
    /// </summary>
    private async Task<HostHarness> AddHostWithSigningKeyAsync(string name, ECCurve curve, bool register = true)
    {
        var host = await _service.AddHostAsync(name, register: false);
        using var signing = ECDsa.Create(curve);
        OwnerOnlyFile.Replace(Path.Combine(host.KeyDirectory, HostKeyPair.SigningKeyFile), Encoding.ASCII.GetBytes(signing.ExportPkcs8PrivateKeyPem()));
        File.WriteAllText(host.PublicKeyFile, signing.ExportSubjectPublicKeyInfoPem() + "\n");
        if (register)
        {
            await _service.Admin.AddHostKeyAsync(name, File.ReadAllText(host.PublicKeyFile), CancellationToken.None);
        }

        return host;
    }
}
