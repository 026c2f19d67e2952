using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// TPM mode end to end against a real swtpm (EK certificate from swtpm_setup --create-ek-cert, its CA registered as
/// TPM root), the real service and both key stores: a host whose TPM measured a real machine's boot attests with that
/// machine's event log, gets a health certificate for its TPM-resident key and unlocks a key protector inside the TPM.
/// </summary>
public sealed class TpmAttestationTests
{
    [Theory]
    [InlineData(StoreKind.Software, DatabaseKind.Sqlite)]
    [InlineData(StoreKind.SoftHsm, DatabaseKind.Sqlite)]
    [InlineData(StoreKind.Software, DatabaseKind.Postgres)]
    public async Task Host_attests_with_its_TPM_and_unlocks_with_the_transport_key_decrypted_in_the_TPM(StoreKind store, DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync("Rhel8GCE", store, database: database);
        var baseline = await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("tpm-host-1");
        using var client = host.Client();

        var attested = await client.AttestAsync(CancellationToken.None);

        Assert.True(attested.Passed, string.Join("; ", attested.Response.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}")));
        Assert.Empty(attested.Response.Reasons);
        using var certificate = X509CertificateLoader.LoadCertificate(attested.HealthCertificate!);
        var claims = HealthCertificateProfile.DecodeVerdict(certificate.Extensions[HealthCertificateProfile.VerdictExtensionOid]!.RawData);
        Assert.Equal(AttestationMode.Tpm, claims.Mode);
        Assert.Equal(baseline.PolicyVersion, claims.PolicyVersion);
        Assert.Equal(baseline.PolicyVersion, attested.Response.PolicyVersion);
        Assert.Equal("tpm-host-1", claims.HostName);

        // The certified key is the TPM-resident host key: its public half is in the certificate, its private half nowhere on disk.
        using (var tpm = scenario.Tpm.CreateClient())
        {
            using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
            using var hostKey = tpm.Load(srk, ReadBlob(Path.Combine(host.StateDirectory, "tpm-hostkey.blob")));
            using var rsa = hostKey.Public.ToRsa();
            Assert.Equal(rsa.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
        }

        Assert.DoesNotContain(Directory.GetFiles(host.StateDirectory), f => f.EndsWith(".key", StringComparison.Ordinal) || f.EndsWith(".pem", StringComparison.Ordinal));

        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await scenario.Service.FabricGuardianAsync());
        var unlocked = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, unlocked.TransportKey);
        var egress = KeyProtector.Parse(unlocked.EgressKeyProtector);
        KeyProtectorVerifier.VerifySignatures(egress);
        // The egress key, decrypted in the TPM too, is the egress key protector's.
        Assert.Equal(KeyProtectorBuilder.UnwrapAsOwner(egress, tenant.Owner), unlocked.EgressTransportKey);

        var audit = await scenario.Service.Admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
        var records = await scenario.Service.Admin.ReadAuditAsync(100, CancellationToken.None);
        Assert.Contains(records, r => r is { Event: "attestation.attest", Outcome: "success", Subject: "tpm-host-1" } && r.Details.Contains("\"mode\":\"tpm\"", StringComparison.Ordinal));
        Assert.Contains(records, r => r is { Event: "keyprotection.release", Outcome: "success", Subject: "tpm-host-1" });
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Default_policies_pass_a_second_real_machine_that_matches_its_baseline(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync("COS85AmdSev", database: database);
        await scenario.AddBaselineAsync("COS85AmdSev");
        var host = await scenario.EnrolAsync("cos-host", "COS85AmdSev");
        using var client = host.Client();

        var attested = await client.AttestAsync(CancellationToken.None);

        Assert.True(attested.Passed, string.Join("; ", attested.Response.Reasons.Select(r => $"{r.Code} {r.Policy} {r.Message}")));
    }

    [Theory]
    [Trait("Attack", "A27")]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Service_in_host_key_mode_refuses_TPM_evidence_and_TPM_mode_refuses_host_key_evidence(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var tpmHost = await scenario.EnrolAsync("tpm-host");
        var keyHost = await scenario.Service.AddHostAsync("key-host");
        using var tpmClient = tpmHost.Client();
        using var keyClient = keyHost.Client();

        var refusedKey = await keyClient.AttestAsync(CancellationToken.None);
        Assert.Equal("ModeMismatch", Assert.Single(refusedKey.Response.Reasons).Code);

        await scenario.Service.Admin.SetModeAsync("host-key", CancellationToken.None);
        var refusedTpm = await tpmClient.AttestAsync(CancellationToken.None);
        Assert.Equal("ModeMismatch", Assert.Single(refusedTpm.Response.Reasons).Code);
        Assert.True((await keyClient.AttestAsync(CancellationToken.None)).Passed);
    }

    internal static CreatedKey ReadBlob(string path)
    {
        var reader = new OpenHgs.Tpm.Marshalling.TpmReader(File.ReadAllBytes(path));
        return new CreatedKey(reader.ReadSized("private"), TpmtPublic.ReadSized(reader));
    }
}
