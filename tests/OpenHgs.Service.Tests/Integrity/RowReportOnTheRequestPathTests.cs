using System.Security.Cryptography;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Integrity;

public sealed class SqliteRowReportOnTheRequestPathTests() : RowReportOnTheRequestPathTests(TestDatabase.Sqlite("row-report"));

public sealed class PostgresRowReportOnTheRequestPathTests() : RowReportOnTheRequestPathTests(TestDatabase.Postgres("row-report"));

/// <summary>
/// Design change 81 against a real database: the row integrity report reads more rows than the node's verification
/// memo holds without evicting the host row a request reads (counted in the key store), and a row tampered with after
/// the dashboard's report was taken is refused on the request path at once, while the report shows it only when it is
/// next taken.
/// </summary>
public abstract class RowReportOnTheRequestPathTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    private const int MemoCapacity = 16;
    private const int Hosts = 24;
    private CountingKeyStore _store = null!;
    private string _hotThumbprint = null!;

    protected override async Task SetUpAsync()
    {
        var registry = new HostRegistry(Database, TimeProvider.System);
        _hotThumbprint = (await registry.AddHostKeyAsync("host-hot", NewPublicKeyPem(), CancellationToken.None)).KeyThumbprint;
        for (int i = 0; i < Hosts; i++)
        {
            await registry.AddHostKeyAsync($"host-{i}", NewPublicKeyPem(), CancellationToken.None);
        }

        _store = new CountingKeyStore(Db.Rows.Store, ownsInner: false);
    }

    [Fact]
    public async Task The_report_reads_more_rows_than_the_memo_holds_and_the_requests_host_row_stays_remembered()
    {
        using var node = OpenNode();
        Assert.Equal("host-hot", (await ReadHotAsync(node))?.Name);
        int warm = _store.Macs;
        Assert.Equal("host-hot", (await ReadHotAsync(node))?.Name);
        Assert.Equal(warm, _store.Macs);

        var report = await new RowIntegrityCheck(node).CheckAsync(CancellationToken.None);
        Assert.True(report.Rows > Hosts);
        Assert.True(_store.Macs - warm > MemoCapacity, $"the report verified {_store.Macs - warm} rows and seals in the key store, which must exceed the memo's {MemoCapacity}");

        int afterReport = _store.Macs;
        Assert.Equal("host-hot", (await ReadHotAsync(node))?.Name);
        Assert.Equal(afterReport, _store.Macs);
    }

    [Fact]
    [Trait("Attack", "A146")]
    public async Task A_host_row_tampered_after_the_dashboards_report_is_refused_on_the_request_path_before_the_report_shows_it()
    {
        using var node = OpenNode();
        var time = new MovableTime();
        var reports = new RowIntegritySnapshots(new RowIntegrityCheck(node), time);
        Assert.Equal("host-hot", (await ReadHotAsync(node))?.Name);
        var shown = await reports.LatestAsync(CancellationToken.None);
        // (This bare database has no settings or policy rows: the report names those; its hosts all verify.)
        Assert.DoesNotContain(shown.Report.Findings, f => f.Table == "hosts");

        // Changed outside OpenHGS after the report: the row and its MAC the memo remembers no longer match.
        await Db.ExecuteAsync("UPDATE hosts SET added_at = added_at + 1 WHERE name = 'host-hot'");
        int before = _store.Macs;
        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadHotAsync(node));
        Assert.Equal(("hosts", "host-hot", false, null), (refused.Table, refused.Key, refused.IsMissing, refused.SupersededBy));
        Assert.Equal("HostRecordIntegrity", RowIntegrityProblems.ToRefusal(refused).Code);
        Assert.True(_store.Macs > before, "the changed row must be checked by the key store");

        // The dashboard still shows the report it took, until it is MaxAge old; "Verify now" and the next report name the row.
        time.Advance(RowIntegritySnapshots.DefaultMaxAge - TimeSpan.FromSeconds(1));
        Assert.Same(shown, await reports.LatestAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromSeconds(1));
        var next = await reports.LatestAsync(CancellationToken.None);
        Assert.Equal([("hosts", "host-hot", "changed")], next.Report.Findings.Where(f => f.Table == "hosts").Select(f => (f.Table, f.Key, f.Problem)));
        var fresh = await reports.FreshAsync(CancellationToken.None);
        Assert.Equal(next.Report.Findings, fresh.Report.Findings);
        await Assert.ThrowsAsync<RowIntegrityException>(() => ReadHotAsync(node));
    }

    /// <summary>The node under test: its own authenticator with a small memo, over a store that counts MACs.</summary>
    private AdoDatabase OpenNode() => Db.Open(new KeyStoreRowAuthenticator(_store, MemoCapacity));

    private Task<HostRecord?> ReadHotAsync(AdoDatabase node) => node.ReadAsync(s => s.Hosts.FindByThumbprintAsync(_hotThumbprint), CancellationToken.None);

    private static string NewPublicKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }

    private sealed class MovableTime : TimeProvider
    {
        private DateTimeOffset _now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
