using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Audit;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>A replayed attestation body costs the service a nonce read, not a verification and a key store signature.</summary>
public sealed class ReplayCostTestsOnSqlite() : ReplayCostTests(DatabaseKind.Sqlite);

/// <summary>The same with the cluster database.</summary>
public sealed class ReplayCostTestsOnPostgres() : ReplayCostTests(DatabaseKind.Postgres);

public abstract class ReplayCostTests(DatabaseKind database) : OneHostServiceTests(database)
{
    private CountingKeyStore _store = null!;

    protected override Func<IKeyStore, IKeyStore>? KeyStoreDecorator => inner => _store = new CountingKeyStore(inner, ownsInner: true);

    [Fact]
    [Trait("Attack", "A04")]
    public async Task Replayed_body_is_refused_without_a_signature()
    {
        byte[] nonce = await Raw.ChallengeAsync();
        var body = RawProtocol.Evidence(nonce, Keys);
        int before = _store.SignaturesExcept(AuditCheckpointKey.Label);
        Assert.Equal(200, (await Raw.AttestAsync(body)).Status);
        int afterFirst = _store.SignaturesExcept(AuditCheckpointKey.Label);
        Assert.True(afterFirst > before, "the passing attestation signs its certificate in the key store");

        long audit = await Service.AuditCountAsync();
        var replay = await Raw.AttestAsync(body);
        Assert.Equal(403, replay.Status);
        Assert.Equal(["NonceReplayed"], RawProtocol.ReasonCodes(replay));
        Assert.Equal(afterFirst, _store.SignaturesExcept(AuditCheckpointKey.Label));
        Assert.Equal(audit + 1, await Service.AuditCountAsync());   // the refusal is still audited
    }

    [Fact]
    [Trait("Attack", "A04")]
    public async Task Expired_nonce_is_refused_without_a_signature()
    {
        byte[] nonce = await Raw.ChallengeAsync();
        Service.Time.Offset = TimeSpan.FromMinutes(6);
        int before = _store.SignaturesExcept(AuditCheckpointKey.Label);
        var answer = await Raw.AttestAsync(RawProtocol.Evidence(nonce, Keys));
        Assert.Equal(403, answer.Status);
        Assert.Equal(["NonceExpired"], RawProtocol.ReasonCodes(answer));
        Assert.Equal(before, _store.SignaturesExcept(AuditCheckpointKey.Label));
        Assert.Equal(0, await Service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));   // refused by its own expiry: nothing to record
    }
}
