using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Design change 72: the host key a health certificate names is bound by a PolicyPCR to the boot that was attested, so a
/// certificate outlives a reboot only as far as the boot it vouches for does. (Found by a review whose proof of concept
/// unlocked a VM with a certificate from an approved boot after rebooting with Secure Boot off.)
/// </summary>
public sealed class TpmRebootTests
{
    private const string ApprovedLog = "Rhel8GCE";

    [Fact]
    [Trait("Attack", "A108")]
    public async Task A_certificate_from_an_approved_boot_unlocks_nothing_after_a_reboot_into_a_refused_one()
    {
        await using var scenario = await TpmScenario.StartAsync(database: DatabaseKind.Sqlite);
        await scenario.AddBaselineAsync(ApprovedLog);
        var host = await scenario.EnrolAsync("reboot");
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await scenario.Service.FabricGuardianAsync());
        string certificatePath, keyPath = Path.Combine(host.StateDirectory, TpmHostAgent.HostKeyFile);
        using (var client = host.Client())
        {
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
            certificatePath = client.HealthCertificatePath;
        }

        byte[] approvedCertificate = File.ReadAllBytes(certificatePath), approvedKey = File.ReadAllBytes(keyPath);

        Reboot(scenario, host, "Ubuntu2104NoSecureBootGCE");
        using var rebooted = host.Client();

        // The client sees its key cannot be used in this boot, makes one for it and attests: refused, so no unlock.
        var unlock = await Assert.ThrowsAsync<HgsClientException>(() => rebooted.UnlockAsync(protector.ToJson(), CancellationToken.None));
        Assert.Equal("InsecureHostConfiguration", unlock.Code);
        Assert.Contains("Hgs_SecureBootEnabled", unlock.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(certificatePath));
        Assert.NotEqual(approvedKey, File.ReadAllBytes(keyPath));

        // A host that keeps the approved boot's certificate and key (an older client, root on the host): the key protection
        // service still releases to the certificate, valid for hours yet, but the TPM refuses the key the release is wrapped to.
        File.WriteAllBytes(certificatePath, approvedCertificate);
        File.WriteAllBytes(keyPath, approvedKey);
        using var raw = new RawProtocol(scenario.Service.Url);
        var release = await raw.ReleaseAsync(protector.ToJson(), approvedCertificate);
        Assert.Equal(200, release.Status);
        var wrapped = release.Body.Deserialize(WireJson.Default.ReleaseResponse)!.TransportKey;
        Assert.Equal("RSA-OAEP-256", wrapped.Algorithm);
        var refused = Assert.Throws<HgsClientException>(() => rebooted.TpmAgent!.Decrypt(Convert.FromBase64String(wrapped.Value), TpmAlgorithm.Sha256));
        Assert.Equal("HostKeyBootChanged", refused.Code);

        // Back in the approved boot that same key works again; a key made for the refused boot would not.
        Reboot(scenario, host, ApprovedLog);
        using var restored = host.Client();
        var unlocked = await restored.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, unlocked.TransportKey);
    }

    [Fact]
    public async Task A_reboot_into_the_same_approved_boot_unlocks_with_the_saved_certificate_without_attesting_again()
    {
        await using var scenario = await TpmScenario.StartAsync(database: DatabaseKind.Sqlite);
        await scenario.AddBaselineAsync(ApprovedLog);
        var host = await scenario.EnrolAsync("same-boot");
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await scenario.Service.FabricGuardianAsync());
        byte[] certificate;
        using (var client = host.Client())
        {
            certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        }

        byte[] key = File.ReadAllBytes(Path.Combine(host.StateDirectory, TpmHostAgent.HostKeyFile));
        long attestations = await AttestationsAsync(scenario);

        Reboot(scenario, host, ApprovedLog);
        using var rebooted = host.Client();
        var unlocked = await rebooted.UnlockAsync(protector.ToJson(), CancellationToken.None);

        // The same PCR values: the same key decrypts and the saved certificate still names it, so nothing is attested again.
        Assert.Equal(transportKey, unlocked.TransportKey);
        Assert.Equal(certificate, File.ReadAllBytes(rebooted.HealthCertificatePath));
        Assert.Equal(key, File.ReadAllBytes(Path.Combine(host.StateDirectory, TpmHostAgent.HostKeyFile)));
        Assert.Equal(attestations, await AttestationsAsync(scenario));
    }

    [Fact]
    public async Task An_updated_client_replaces_a_host_key_made_before_design_change_72_and_unlocks()
    {
        await using var scenario = await TpmScenario.StartAsync(database: DatabaseKind.Sqlite);
        await scenario.AddBaselineAsync(ApprovedLog);
        var host = await scenario.EnrolAsync("upgraded");
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await scenario.Service.FabricGuardianAsync());
        string keyPath = Path.Combine(host.StateDirectory, TpmHostAgent.HostKeyFile);

        // What an older client left: the pre-72 template (userWithAuth, no policy) in a blob without a PCR selection.
        var oldTemplate = TpmTemplates.HostEncryptionRsa2048([]) with { Attributes = TpmTemplates.HostEncryptionRsa2048([]).Attributes | ObjectAttributes.UserWithAuth };
        using (var tpm = scenario.Tpm.CreateClient())
        {
            using var srk = tpm.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
            var old = tpm.Create(srk, oldTemplate);
            File.WriteAllBytes(keyPath, TpmWriter.Marshal(w => w.WriteSized(old.Private).WriteSized(old.Public.ToBytes())));
        }

        using var client = host.Client();
        var unlocked = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);

        Assert.Equal(transportKey, unlocked.TransportKey);
        var key = TpmAttestationTests.ReadBlob(keyPath).Public;
        Assert.Equal(ObjectAttributes.None, key.Attributes & ObjectAttributes.UserWithAuth);
        Assert.Equal(32, key.AuthPolicy.Length);
    }

    private static Task<long> AttestationsAsync(TpmScenario scenario) =>
        scenario.Service.ExecuteSqlAsync("SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest'");

    /// <summary>Power-cycles the swtpm (PCRs reset), then "boots" <paramref name="logName"/>: its events extended, its log the one the host reads.</summary>
    private static void Reboot(TpmScenario scenario, HostHarness host, string logName)
    {
        PowerCycle(scenario.Tpm.Port + 1);
        var log = TestData.ReadLog(logName);
        using (var tpm = scenario.Tpm.CreateClient())
        {
            tpm.Startup();
            var parsed = EventLogParser.Parse(log);
            var active = tpm.GetPcrBanks().Where(b => b.Pcrs.Count > 0).Select(b => b.Hash).ToHashSet();
            tpm.ExtendEventLog(parsed, parsed.Banks.Where(active.Contains).ToList());
        }

        File.WriteAllBytes(ClientConfiguration.Load(host.StateDirectory).EventLog!, log);
    }

    /// <summary>swtpm CMD_INIT on the control channel: the TPM is reset as at power-on (PCRs back to their initial values).</summary>
    private static void PowerCycle(int controlPort)
    {
        using var tcp = new TcpClient("127.0.0.1", controlPort);
        using var stream = tcp.GetStream();
        Span<byte> command = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(command, 0x00000002); // CMD_INIT
        BinaryPrimitives.WriteUInt32BigEndian(command[4..], 0);      // init flags
        stream.Write(command);
        Span<byte> result = stackalloc byte[4];
        stream.ReadExactly(result);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(result));
    }
}
