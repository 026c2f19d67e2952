using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>The host refuses forged release answers before writing anything (SQLite service).</summary>
public sealed class ForgedReleaseTestsOnSqlite() : ForgedReleaseTests(DatabaseKind.Sqlite);

/// <summary>The same refusals with the service on PostgreSQL.</summary>
public sealed class ForgedReleaseTestsOnPostgres() : ForgedReleaseTests(DatabaseKind.Postgres);

/// <summary>What the man in the middle puts into a genuine release answer.</summary>
public enum Forgery
{
    /// <summary>A random 32-byte transport key wrapped to the host's public key.</summary>
    TransportKey,

    /// <summary>A random 48-byte transport key wrapped to the host's public key.</summary>
    LongTransportKey,

    /// <summary>A random 32-byte egress transport key wrapped to the host's public key.</summary>
    EgressTransportKey,

    /// <summary>A random 16-byte egress transport key wrapped to the host's public key.</summary>
    ShortEgressTransportKey,

    /// <summary>The released key protector and key again as the "egress" ones: the VM would never move off its key.</summary>
    ReplayedIngress,

    /// <summary>A key protector of the attacker's own (own owner, granted to the fabric) and its key, as the egress ones.</summary>
    ForeignEgressKeyProtector,
}

/// <summary>
/// Point 3 of issue 8, as an attacker between <c>hgs client unlock</c> and the real service would try it: the host's
/// encryption key is public (its health certificate carries it), so a forged key can be wrapped to it. The host checks
/// every key it receives against its key protector's HMAC and refuses with a code, one line on stderr, exit 1, and no
/// file written.
/// </summary>
public abstract class ForgedReleaseTests(DatabaseKind database) : IAsyncLifetime
{
    private ServiceHarness _service = null!;
    private ReleaseForgingProxy _proxy = null!;
    private HostHarness _host = null!;
    private Tenant _tenant = null!;
    private string _work = null!;
    private byte[] _transportKey = null!;

    public async Task InitializeAsync()
    {
        _service = await ServiceHarness.StartAsync(database: database);
        _proxy = await ReleaseForgingProxy.StartAsync(_service.Url);
        _host = await _service.AddHostAsync("host-f", keyProtectionUrls: [_proxy.Url]);
        using (var client = _host.Client())
        {
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        }

        _tenant = new Tenant();
        (var protector, _transportKey) = _tenant.CreateProtector(await _service.FabricGuardianAsync());
        _work = Path.Combine(_service.Root, "work");
        Directory.CreateDirectory(Path.Combine(_work, "out"));
        await File.WriteAllBytesAsync(Path.Combine(_work, "vm.kp"), protector.ToJson());
    }

    public async Task DisposeAsync()
    {
        _tenant.Dispose();
        await _proxy.DisposeAsync();
        await _service.DisposeAsync();
    }

    [Theory]
    [Trait("Attack", "A48")]
    [InlineData(Forgery.TransportKey, "TransportKeySignatureInvalid")]
    [InlineData(Forgery.LongTransportKey, "TransportKeyInvalid")]
    [InlineData(Forgery.EgressTransportKey, "EgressTransportKeySignatureInvalid")]
    [InlineData(Forgery.ShortEgressTransportKey, "EgressTransportKeyInvalid")]
    [InlineData(Forgery.ReplayedIngress, "EgressTransportKeyNotFresh")]
    [InlineData(Forgery.ForeignEgressKeyProtector, "EgressKeyProtectorOwnerMismatch")]
    public async Task A_forged_release_answer_is_refused_and_nothing_is_written(Forgery forgery, string code)
    {
        using var stranger = new Tenant("stranger");
        var (foreign, foreignKey) = stranger.CreateProtector(await _service.FabricGuardianAsync());
        byte[] released = await File.ReadAllBytesAsync(Path.Combine(_work, "vm.kp"));
        _proxy.Forge = (answer, hostKey) =>
        {
            switch (forgery)
            {
                case Forgery.TransportKey:
                    answer["transportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey);
                    break;
                case Forgery.LongTransportKey:
                    answer["transportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey, 48);
                    break;
                case Forgery.EgressTransportKey:
                    answer["egressTransportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey);
                    break;
                case Forgery.ShortEgressTransportKey:
                    answer["egressTransportKey"] = ReleaseForgingProxy.WrappedRandomKey(hostKey, 16);
                    break;
                case Forgery.ReplayedIngress:
                    answer["egressKeyProtector"] = Convert.ToBase64String(released);
                    answer["egressTransportKey"] = answer["transportKey"]!.DeepClone();
                    break;
                case Forgery.ForeignEgressKeyProtector:
                    answer["egressKeyProtector"] = Convert.ToBase64String(foreign.ToJson());
                    answer["egressTransportKey"] = new JsonObject
                    {
                        ["algorithm"] = "RSA-OAEP-256",
                        ["value"] = Convert.ToBase64String(hostKey.Encrypt(foreignKey, System.Security.Cryptography.RSAEncryptionPadding.OaepSHA256)),
                    };
                    break;
            }
        };

        var refused = await UnlockAsync();

        Assert.StartsWith($"error: {code}:", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Equal(1, _proxy.Forged);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_work, "out")));
    }

    [Fact]
    public async Task The_same_answer_unforged_unlocks_through_the_proxy()
    {
        // Control: the proxy itself changes nothing, so the refusals above come from the forgeries.
        (await UnlockAsync()).Succeeded();

        Assert.Equal(0, _proxy.Forged);
        Assert.Equal(_transportKey, await File.ReadAllBytesAsync(Out("vm.key")));
        var egress = KeyProtector.Parse(await File.ReadAllBytesAsync(Out("vm-next.kp")));
        Assert.Equal(KeyProtectorBuilder.UnwrapAsOwner(egress, _tenant.Owner), await File.ReadAllBytesAsync(Out("vm-next.key")));
    }

    private Task<CliResult> UnlockAsync() => HgsCli.RunAsync(
        "client", "unlock", "--state", _host.StateDirectory, "--kp", Path.Combine(_work, "vm.kp"),
        "--out", Out("vm.key"), "--egress-out", Out("vm-next.kp"), "--egress-key-out", Out("vm-next.key"));

    private string Out(string name) => Path.Combine(_work, "out", name);
}
