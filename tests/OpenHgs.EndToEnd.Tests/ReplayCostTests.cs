using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Audit;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>A replayed attestation body costs the service a nonce read, not a verification and a key store signature.</summary>
public sealed class ReplayCostTestsOnSqlite() : ReplayCostTests(DatabaseKind.Sqlite);

/// <summary>The same with the cluster database.</summary>
public sealed class ReplayCostTestsOnPostgres() : ReplayCostTests(DatabaseKind.Postgres);

public abstract class ReplayCostTests(DatabaseKind database) : IAsyncLifetime
{
    private ServiceHarness _service = null!;
    private CountingKeyStore _store = null!;
    private RawProtocol _raw = null!;
    private HostKeyPair _keys = null!;

    public async Task InitializeAsync()
    {
        _service = await ServiceHarness.StartAsync(StoreKind.Software, database,
            keyStoreDecorator: inner => _store = new CountingKeyStore(inner, ownsInner: true));
        _raw = new RawProtocol(_service.Url);
        _keys = HostKeyPair.Load((await _service.AddHostAsync("host-a")).KeyDirectory);
    }

    public async Task DisposeAsync()
    {
        _keys.Dispose();
        _raw.Dispose();
        await _service.DisposeAsync();
    }

    [Fact]
    [Trait("Attack", "A04")]
    public async Task Replayed_body_is_refused_without_a_signature()
    {
        byte[] nonce = await _raw.ChallengeAsync();
        var body = RawProtocol.Evidence(nonce, _keys);
        int before = _store.SignaturesExcept(AuditCheckpointKey.Label);
        Assert.Equal(200, (await _raw.AttestAsync(body)).Status);
        int afterFirst = _store.SignaturesExcept(AuditCheckpointKey.Label);
        Assert.True(afterFirst > before, "the passing attestation signs its certificate in the key store");

        long audit = await _service.AuditCountAsync();
        var replay = await _raw.AttestAsync(body);
        Assert.Equal(403, replay.Status);
        Assert.Equal(["NonceReplayed"], RawProtocol.ReasonCodes(replay));
        Assert.Equal(afterFirst, _store.SignaturesExcept(AuditCheckpointKey.Label));
        Assert.Equal(audit + 1, await _service.AuditCountAsync());   // the refusal is still audited
    }

    [Fact]
    [Trait("Attack", "A04")]
    public async Task Expired_nonce_is_refused_without_a_signature()
    {
        byte[] nonce = await _raw.ChallengeAsync();
        _service.Time.Offset = TimeSpan.FromMinutes(6);
        int before = _store.SignaturesExcept(AuditCheckpointKey.Label);
        var answer = await _raw.AttestAsync(RawProtocol.Evidence(nonce, _keys));
        Assert.Equal(403, answer.Status);
        Assert.Equal(["NonceExpired"], RawProtocol.ReasonCodes(answer));
        Assert.Equal(before, _store.SignaturesExcept(AuditCheckpointKey.Label));
        Assert.Equal(0, await _service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));   // refused by its own expiry: nothing to record
    }
}
