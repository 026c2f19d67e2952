using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Policies;

public sealed class SqliteExplicitPolicyStatesTests() : ExplicitPolicyStatesTests(TestDatabase.Sqlite("policy-rows"));

public sealed class PostgresExplicitPolicyStatesTests() : ExplicitPolicyStatesTests(TestDatabase.Postgres("policy_rows"));

/// <summary>
/// Design change 62 for policy states: every catalog policy has a row, written with its default the first time a service
/// that knows the policy starts; a row deleted after that is never rewritten and the policy set fails closed.
/// </summary>
public abstract class ExplicitPolicyStatesTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    private const string Dbx = "Hgs_DbxPresent";

    [Fact]
    public async Task A_fabric_from_before_gets_every_default_once_and_keeps_what_the_admin_set()
    {
        // The admin enabled a policy that ships disabled before the change; the others never had rows.
        await Database.InTransactionAsync(async s =>
        {
            await s.Policies.SetStateAsync(Dbx, "enabled");
            return 0;
        }, CancellationToken.None);

        var first = await EnsureAsync();
        Assert.Equal(PolicyCatalog.All.Select(p => p.Name).Where(n => n != Dbx), first.Written);
        Assert.Empty(first.Deleted);
        var states = await StatesAsync();
        Assert.Equal("enabled", states[Dbx]);
        Assert.All(PolicyCatalog.All.Where(p => p.Name != Dbx), p => Assert.Equal(PolicyService.Name(p.DefaultState), states[p.Name]));
        var record = Assert.Single(await RecordsAsync());
        Assert.Contains($"\"known\":\"{string.Join(",", PolicyCatalog.All.Select(p => p.Name))}\"", record.Details, StringComparison.Ordinal);

        Assert.Same(ExplicitRowsResult.Complete, await EnsureAsync());
        Assert.Single(await RecordsAsync());
    }

    [Fact]
    [Trait("Attack", "A92")]
    public async Task A_policy_the_admin_enabled_and_someone_deleted_is_not_back_to_its_default_and_the_set_fails_closed()
    {
        await EnsureAsync();
        var policies = new PolicyService(Database, new SettingsService(Database, TimeProvider.System), TimeProvider.System);
        await policies.SetStateAsync(Dbx, PolicyState.Enabled, CancellationToken.None);
        await ExecuteAsync($"DELETE FROM policies WHERE name = '{Dbx}'");

        var again = await EnsureAsync();
        Assert.Empty(again.Written);
        Assert.Equal([Dbx], again.Deleted);
        Assert.False((await StatesAsync()).ContainsKey(Dbx));

        var failure = await Assert.ThrowsAsync<RowIntegrityException>(LoadAsync);
        Assert.True(failure.IsMissing);
        Assert.Equal(("policies", Dbx), (failure.Table, failure.Key));
        var refusal = RowIntegrityProblems.ToRefusal(failure);
        Assert.Equal(RowIntegrityProblems.PolicyIntegrity, refusal.Code);
        Assert.Equal($"The policies row '{Dbx}' is missing (deleted outside OpenHGS; its absence is not read as the policy's default); TPM attestation fails closed until an admin sets its state again.", refusal.Message);

        // The admin sets it again: the set reads.
        await policies.SetStateAsync(Dbx, PolicyState.Enabled, CancellationToken.None);
        Assert.Equal(PolicyState.Enabled, (await LoadAsync()).States[Dbx]);
    }

    [Fact]
    public async Task A_policy_new_in_a_later_release_gets_its_default_at_that_release_s_first_start()
    {
        // A fabric whose last record of known policies predates Hgs_DbxPresent: its row is missing because no service that
        // knew it ever started there, not because it was deleted.
        await Database.InTransactionAsync(async s =>
        {
            foreach (var policy in PolicyCatalog.All.Where(p => p.Name != Dbx))
            {
                await s.Policies.SetStateAsync(policy.Name, PolicyService.Name(policy.DefaultState));
            }

            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.PolicyStatesMadeExplicit, AuditOutcomes.Success, "policies", null,
                ("context", "init"), ("known", string.Join(",", PolicyCatalog.All.Where(p => p.Name != Dbx).Select(p => p.Name)))));
            return 0;
        }, CancellationToken.None);

        var result = await EnsureAsync();
        Assert.Equal([Dbx], result.Written);
        Assert.Empty(result.Deleted);
        Assert.Equal("disabled", (await StatesAsync())[Dbx]);
        Assert.Equal(2, (await RecordsAsync()).Count);
    }

    [Fact]
    public async Task Nodes_starting_together_write_the_defaults_once()
    {
        var nodes = Enumerable.Range(0, 4).Select(_ => Db.Open()).ToList();
        try
        {
            var results = await Task.WhenAll(nodes.Select(n => n.InTransactionAsync(s => ExplicitPolicyStates.EnsureAsync(s, "upgrade"), CancellationToken.None)));
            Assert.Single(results, r => r.Written.Count == PolicyCatalog.All.Count);
            Assert.All(results.Where(r => r.Written.Count == 0), r => Assert.Same(ExplicitRowsResult.Complete, r));
            Assert.Single(await RecordsAsync());
        }
        finally
        {
            nodes.ForEach(n => n.Dispose());
        }
    }

    private Task<ExplicitRowsResult> EnsureAsync() =>
        Database.InTransactionAsync(s => ExplicitPolicyStates.EnsureAsync(s, "upgrade"), CancellationToken.None);

    /// <summary>The policy set as attestation reads it.</summary>
    private Task<PolicySnapshot> LoadAsync() => Database.ReadAsync(PolicyService.LoadAsync, CancellationToken.None);

    private Task<Dictionary<string, string>> StatesAsync() => Database.ReadAsync(s => s.Policies.GetStatesAsync(), CancellationToken.None);

    private Task<List<AuditEntry>> RecordsAsync() =>
        Database.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, AuditEvents.PolicyStatesMadeExplicit, null, 10)), CancellationToken.None);

    private Task ExecuteAsync(string sql) => Db.ExecuteAsync(sql);
}
