using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>Guardian → key protector → host attests → unlock, against the real service, with both key stores.</summary>
public sealed class FullFlowTests
{
    [Theory]
    [InlineData(StoreKind.Software, DatabaseKind.Sqlite)]
    [InlineData(StoreKind.SoftHsm, DatabaseKind.Sqlite)]
    [InlineData(StoreKind.SoftHsm, DatabaseKind.Postgres)]
    public async Task Unlock_returns_the_owners_transport_key_and_a_working_egress_protector(StoreKind store, DatabaseKind database)
    {
        await using var service = await ServiceHarness.StartAsync(store, database);
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await service.FabricGuardianAsync());
        var host = await service.AddHostAsync("host-1");
        using var client = host.Client();

        var attested = await client.AttestAsync(CancellationToken.None);
        Assert.True(attested.Passed, string.Join("; ", attested.Response.Reasons.Select(r => r.Code)));
        Assert.Equal("Passed", attested.Response.Status);

        var first = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, first.TransportKey);

        // The egress key protector carries a fresh transport key that the owner can also read.
        var egress = KeyProtector.Parse(first.EgressKeyProtector);
        KeyProtectorVerifier.VerifySignatures(egress);
        byte[] egressKeyAsOwner = KeyProtectorBuilder.UnwrapAsOwner(egress, tenant.Owner);
        Assert.NotEqual(transportKey, egressKeyAsOwner);
        // The host received that same fresh key, decrypted with its own key and checked against the egress key protector.
        Assert.Equal(egressKeyAsOwner, first.EgressTransportKey);

        var second = await client.UnlockAsync(first.EgressKeyProtector, CancellationToken.None);
        Assert.Equal(egressKeyAsOwner, second.TransportKey);

        // The original key protector still unlocks, to the original key.
        var again = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, again.TransportKey);

        var audit = await service.Admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(audit.Valid, audit.Problem);
        var records = await service.Admin.ReadAuditAsync(100, CancellationToken.None);
        Assert.Equal(3, records.Count(r => r.Event == "keyprotection.release" && r.Outcome == "success" && r.Subject == "host-1"));
        Assert.Contains(records, r => r.Event == "attestation.attest" && r.Outcome == "success" && r.Subject == "host-1");

        // With an HSM that can (SoftHSM2 can, with OAEP SHA-1), the VM's transport key never enters service memory.
        string handling = store == StoreKind.SoftHsm ? "hsm-native" : "memory";
        Assert.All(records.Where(r => r.Event == "keyprotection.release"), r => Assert.Contains($"\"transportKeyHandling\":\"{handling}\"", r.Details, StringComparison.Ordinal));
    }
}
