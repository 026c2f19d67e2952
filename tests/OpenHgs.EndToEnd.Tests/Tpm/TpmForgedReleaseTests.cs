using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Point 3 of issue 8 in TPM mode: a key planted by a man in the middle, wrapped to the TPM-resident host key taken
/// from the health certificate, decrypts inside the TPM and is then refused by the same HMAC check as in host-key mode.
/// </summary>
public sealed class TpmForgedReleaseTests
{
    [Theory]
    [Trait("Attack", "A49")]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Keys_planted_for_the_TPM_host_key_are_refused_after_the_TPM_decrypts_them(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("tpm-forged");
        await using var proxy = await ReleaseForgingProxy.StartAsync(scenario.Service.Url);
        (ClientConfiguration.Load(host.StateDirectory) with { KeyProtectionUrls = [proxy.Url] }).Save(host.StateDirectory);
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await scenario.Service.FabricGuardianAsync());
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        proxy.Forge = (answer, hostKey) => answer["transportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey);
        var forgedIngress = await Assert.ThrowsAsync<HgsClientException>(() => client.UnlockAsync(protector.ToJson(), CancellationToken.None));
        Assert.Equal("TransportKeySignatureInvalid", forgedIngress.Code);

        proxy.Forge = (answer, hostKey) => answer["egressTransportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey);
        var forgedEgress = await Assert.ThrowsAsync<HgsClientException>(() => client.UnlockAsync(protector.ToJson(), CancellationToken.None));
        Assert.Equal("EgressTransportKeySignatureInvalid", forgedEgress.Code);
        Assert.Equal(2, proxy.Forged);

        // Control: the same path unforged unlocks, so the refusals came from the planted keys.
        proxy.Forge = null;
        var unlocked = await client.UnlockAsync(protector.ToJson(), CancellationToken.None);
        Assert.Equal(transportKey, unlocked.TransportKey);
    }
}
