using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class SqliteHostPageVerdictTests() : HostPageVerdictTests(TestDatabase.Sqlite("host-page-verdicts"))
{
    /// <summary>
    /// A page's verdicts are index look-ups (migration 11), not a read of the whole trail on every dashboard refresh;
    /// SQLite shows it in its plan (PostgreSQL picks by statistics, which a near-empty table does not have).
    /// </summary>
    [Fact]
    public async Task The_look_up_of_a_pages_verdicts_uses_the_attestation_subject_index()
    {
        string query = AuditTable.LatestAttestationOfEachQuery(3)
            .Replace("@s0", "'alpha'", StringComparison.Ordinal).Replace("@s1", "'key:thumb-beta'", StringComparison.Ordinal).Replace("@s2", "'gamma'", StringComparison.Ordinal);
        string plan = await Db.PlanAsync(query);
        Assert.True(plan.Contains("audit_attestation_subject", StringComparison.Ordinal), plan);
        Assert.False(plan.Contains("SCAN audit_log", StringComparison.Ordinal), plan);
    }
}

public sealed class PostgresHostPageVerdictTests() : HostPageVerdictTests(TestDatabase.Postgres("host-page-verdicts"));

/// <summary>
/// A host page carries its hosts' latest attestation verdicts (design change 89): a host whose last attestation is
/// older than the newest N other subjects' still has it, where the dashboard's newest-subjects list lost it.
/// </summary>
public abstract class HostPageVerdictTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    private const int Others = 5;

    private HostRegistry Hosts => new(Database, TimeProvider.System);

    protected override Task SetUpAsync() => Database.InTransactionAsync(async s =>
    {
        await s.Hosts.AddAsync(new HostRecord("alpha", "host-key", [1], "thumb-alpha", DateTimeOffset.UnixEpoch));
        await s.Hosts.AddAsync(new HostRecord("beta", "host-key", [2], "thumb-beta", DateTimeOffset.UnixEpoch));
        await s.Hosts.AddAsync(new HostRecord("gamma", "host-key", [3], "thumb-gamma", DateTimeOffset.UnixEpoch));
        // alpha: a success, then a refusal; beta: a refusal named by its key (decided before the host was looked up).
        await Attest(s, "alpha", AuditOutcomes.Success, null);
        await Attest(s, "alpha", AuditOutcomes.Refused, "PcrMismatch");
        await Attest(s, "key:thumb-beta", AuditOutcomes.Refused, "NonceReplayed");
        // Then more other subjects attest than the newest-subjects list is asked for; gamma (another page) among them.
        await Attest(s, "gamma", AuditOutcomes.Success, null);
        for (int i = 0; i < Others; i++)
        {
            await Attest(s, $"key:stranger-{i}", AuditOutcomes.Refused, "HostKeyNotRegistered");
        }

        return 0;
    }, CancellationToken.None);

    [Fact]
    public async Task A_page_carries_the_latest_verdict_of_each_of_its_hosts_however_many_others_attested_since()
    {
        // The list the dashboard read before, bounded by subjects: alpha and beta are not among the newest.
        var newest = await Database.ReadAsync(s => s.Audit.LatestPerSubjectAsync(AuditEvents.Attestation, Others), CancellationToken.None);
        Assert.DoesNotContain(newest, r => r.Subject is "alpha" or "key:thumb-beta");

        var page = await Hosts.ListPageAsync(new HostPageQuery(2, null, null), CancellationToken.None);

        Assert.Equal(["alpha", "beta"], page.Hosts.Select(h => h.Name));
        // One record per subject, the newest; nothing of gamma (the next page) or of unregistered keys.
        Assert.Equal(
            [("key:thumb-beta", AuditOutcomes.Refused, "NonceReplayed"), ("alpha", AuditOutcomes.Refused, "PcrMismatch")],
            page.Verdicts.Select(v => (v.Subject, v.Outcome, v.Reason)));
        Assert.All(page.Verdicts, v => Assert.Equal(AuditEvents.Attestation, v.Event));
    }

    [Fact]
    public async Task A_page_of_hosts_that_never_attested_carries_no_verdict()
    {
        await Database.InTransactionAsync(async s =>
        {
            await s.Hosts.AddAsync(new HostRecord("zeta", "host-key", [4], "thumb-zeta", DateTimeOffset.UnixEpoch));
            return 0;
        }, CancellationToken.None);

        var page = await Hosts.ListPageAsync(new HostPageQuery(10, null, "zeta"), CancellationToken.None);

        Assert.Equal((1, 0), (page.Hosts.Count, page.Verdicts.Count));
    }

    private static Task<AuditEntry> Attest(HgsSession s, string subject, string outcome, string? reason) =>
        s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.Attestation, outcome, subject, reason));
}
