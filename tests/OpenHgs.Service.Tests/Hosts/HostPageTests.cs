using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class SqliteHostPageTests() : HostPageTests(TestDatabase.Sqlite("host-pages"))
{
    /// <summary>
    /// SQLite has no statistics to tell it the subject index is the narrow one (PostgreSQL's planner has them once the
    /// trail holds more than a few records, and on a near-empty table any plan is cheap).
    /// </summary>
    [Fact]
    public async Task The_look_up_of_a_pages_history_uses_the_admin_subject_index()
    {
        string query = AdminRecordHistory.AboutEachQuery(3, 2)
            .Replace("@s0", "'a'", StringComparison.Ordinal).Replace("@s1", "'b'", StringComparison.Ordinal).Replace("@s2", "'c'", StringComparison.Ordinal)
            .Replace("@e0", $"'{AdminRecordEvents.HostAdded}'", StringComparison.Ordinal)
            .Replace("@e1", $"'{AdminRecordEvents.HostRemoved}'", StringComparison.Ordinal);
        string plan = await Db.PlanAsync(query);
        Assert.True(plan.Contains("audit_admin_subject", StringComparison.Ordinal), plan);
    }
}

public sealed class PostgresHostPageTests() : HostPageTests(TestDatabase.Postgres("host-pages"));

/// <summary>The same on a database created in an operator's language (ICU en-US): its name order is not code-point order.</summary>
public sealed class PostgresIcuHostPageTests() : HostPageTests(TestDatabase.PostgresWithCollation("host_pages_icu", "en-US"));

/// <summary>
/// <c>GET /admin/v1/hosts</c> reads one page of hosts (design change 87), not the whole table: the pages, one after the
/// other, hold every host exactly once in the database's name order; a row that fails its check is named in its page.
/// </summary>
public abstract class HostPageTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    // Mixed case, '.', '_' and '-': code-point order and an ICU collation's order differ on them.
    private static readonly string[] Names =
        ["host-10", "host-9", "Host_b", "host.a", "a", "B", "web-01", "web-02", "web_03", "db-1", "db.2", "zz", "Zz", "host-1"];

    private HostRegistry Hosts => new(Database, TimeProvider.System);

    protected override Task SetUpAsync() => Database.InTransactionAsync(async s =>
    {
        foreach (var (name, i) in Names.Select((n, i) => (n, i)))
        {
            await s.Hosts.AddAsync(new HostRecord(name, "host-key", [(byte)i], $"thumb-{i}", DateTimeOffset.UnixEpoch));
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, name, null, ("mode", "host-key"), ("keyThumbprint", $"thumb-{i}")));
        }

        return 0;
    }, CancellationToken.None);

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(13)]
    [InlineData(14)]
    [InlineData(500)]
    public async Task The_pages_hold_every_host_once_in_the_databases_name_order(int limit)
    {
        var order = (await Database.ReadSnapshotAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rows.Select(h => h.Name).ToList();
        Assert.Equal(Names.Order(StringComparer.Ordinal), order.Order(StringComparer.Ordinal));

        var pages = await WalkAsync(limit, prefix: null);

        Assert.Equal(order, pages.SelectMany(p => p.Hosts).Select(h => h.Name));
        Assert.All(pages, p => Assert.Equal((Names.Length, 0), (p.Total, p.Rejected.Count)));
        Assert.All(pages[..^1], p => Assert.Equal((limit, p.Hosts[^1].Name), (p.Hosts.Count, p.Next)));
        Assert.Null(pages[^1].Next);
        Assert.Equal((Names.Length + limit - 1) / limit, pages.Count);
    }

    [Fact]
    public async Task A_page_after_the_last_host_is_empty_and_names_no_next_page()
    {
        var all = await PageAsync(new HostPageQuery(HostPageQuery.MaxLimit, null, null));
        var beyond = await PageAsync(new HostPageQuery(HostPageQuery.MaxLimit, all.Hosts[^1].Name, null));

        Assert.Equal((0, 0, (string?)null, (long)Names.Length), (beyond.Hosts.Count, beyond.Rejected.Count, beyond.Next, beyond.Total));
    }

    [Fact]
    public async Task A_prefix_pages_through_the_names_starting_with_it_exactly_and_counts_only_those()
    {
        // Exact, case and all: "host" is not "Host_b", and ICU's order does not let "host.a" or "host_" slip in or out.
        var pages = await WalkAsync(2, "host");

        Assert.Equal(["host-1", "host-10", "host-9", "host.a"], pages.SelectMany(p => p.Hosts).Select(h => h.Name).Order(StringComparer.Ordinal));
        Assert.All(pages, p => Assert.Equal(4, p.Total));
        Assert.Equal(2, pages.Count);
    }

    [Fact]
    [Trait("Attack", "A165")]
    public async Task A_changed_row_is_named_in_its_page_and_the_next_page_still_follows_it()
    {
        // The changed row is the last of its page: the cursor must move past it, not stop or skip the rest.
        var order = (await Database.ReadSnapshotAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rows.Select(h => h.Name).ToList();
        string changed = order[2];
        await Db.ExecuteAsync("UPDATE hosts SET added_at = added_at + 1 WHERE name = @n", ("@n", changed));

        var pages = await WalkAsync(3, prefix: null);

        Assert.Equal(order.Where(n => n != changed), pages.SelectMany(p => p.Hosts).Select(h => h.Name));
        var first = pages[0];
        Assert.Equal((2, changed), (first.Hosts.Count, first.Next));
        var rejected = Assert.Single(first.Rejected);
        Assert.Equal(("hosts", changed, "changed", (long?)null), (rejected.Table, rejected.Key, rejected.Problem, rejected.SupersededBy));
        Assert.Equal($"The hosts row '{changed}' was changed outside OpenHGS (its MAC does not verify).", rejected.Message);
        Assert.All(pages.Skip(1), p => Assert.Empty(p.Rejected));
        Assert.All(pages, p => Assert.Equal(Names.Length, p.Total));
    }

    [Fact]
    public async Task A_page_is_a_bulk_read_answered_from_the_memo_but_never_filling_it()
    {
        // A node's own memo, over a counted key store: paging through every host must not evict the rows requests verify.
        var store = new OpenHgs.Testing.CountingKeyStore(Db.Rows.Store, ownsInner: false);
        using var node = Db.Open(new OpenHgs.Service.Integrity.KeyStoreRowAuthenticator(store));
        var hosts = new HostRegistry(node, TimeProvider.System);
        var query = new HostPageQuery(HostPageQuery.MaxLimit, null, null);
        async Task<int> MacsOfAsync(Func<Task> read)
        {
            int before = store.Macs;
            await read();
            return store.Macs - before;
        }

        int first = await MacsOfAsync(() => hosts.ListPageAsync(query, CancellationToken.None));
        int second = await MacsOfAsync(() => hosts.ListPageAsync(query, CancellationToken.None));
        Assert.True(second >= Names.Length * 2, $"every row and its admin record is checked again ({second})");
        Assert.InRange(first - second, 0, 1);   // the key's check value, the first time only

        // A request's read of one host is remembered, and the next page answers that row and its record from the memo.
        await node.ReadAsync(s => s.Hosts.FindByNameAsync("web-01"), CancellationToken.None);
        Assert.Equal(second - 2, await MacsOfAsync(() => hosts.ListPageAsync(query, CancellationToken.None)));
    }

    private Task<HostPage> PageAsync(HostPageQuery query) => Hosts.ListPageAsync(query, CancellationToken.None);

    private async Task<List<HostPage>> WalkAsync(int limit, string? prefix)
    {
        var pages = new List<HostPage>();
        string? after = null;
        do
        {
            var page = await PageAsync(new HostPageQuery(limit, after, prefix));
            pages.Add(page);
            after = page.Next;
            Assert.True(pages.Count <= Names.Length + 1, "the cursor does not move");
        }
        while (after is not null);
        return pages;
    }
}

/// <summary>Every bad value of a host page query is refused naming its parameter (<c>HostPageQueryInvalid</c>), before anything is read.</summary>
public sealed class HostPageQueryTests
{
    [Theory]
    [InlineData("0", null, null, "limit")]
    [InlineData("501", null, null, "limit")]
    [InlineData("-1", null, null, "limit")]
    [InlineData("ten", null, null, "limit")]
    [InlineData("", null, null, "limit")]
    [InlineData(null, "", null, "after")]
    [InlineData(null, "a\0b", null, "after")]
    [InlineData(null, null, "", "prefix")]
    [InlineData(null, null, "-web", "prefix")]
    [InlineData(null, null, "web 1", "prefix")]
    [InlineData(null, null, "web%", "prefix")]
    public void A_bad_value_is_refused_naming_it(string? limit, string? after, string? prefix, string parameter)
    {
        var refused = Assert.Throws<ServiceException>(() => HostPageQuery.Parse(limit, after, prefix));
        Assert.Equal((HostPageQuery.InvalidCode, ProblemKind.BadRequest), (refused.Code, refused.Kind));
        Assert.StartsWith($"The host page query's '{parameter}' must be ", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Absent_values_ask_for_the_largest_page_from_the_first_host()
    {
        Assert.Equal(new HostPageQuery(500, null, null), HostPageQuery.Parse(null, null, null));
        // Any stored name is a cursor, also one no registration would accept (a row written outside OpenHGS).
        Assert.Equal(new HostPageQuery(1, "bad name\n", "web-0"), HostPageQuery.Parse("1", "bad name\n", "web-0"));
    }
}
