using Npgsql;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage.Postgres;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Policies;

/// <summary>
/// On PostgreSQL (read committed, several nodes), concurrent policy changes each get their own policy version: the
/// version is read and bumped under a row lock, so no two changes share a version and no change is missed by the
/// per-version policy caches of other nodes.
/// </summary>
public sealed class PolicyVersionConcurrencyTests : IAsyncLifetime
{
    private readonly string _connectionString = PostgresServer.Instance.CreateDatabase("policyrace");
    private readonly SoftwareRowKey _rows = new();
    private readonly List<PostgresDatabase> _nodes = [];

    public async Task InitializeAsync()
    {
        for (int i = 0; i < 4; i++)
        {
            _nodes.Add(new PostgresDatabase(_connectionString, TimeProvider.System, _rows.Authenticator));
        }

        await _nodes[0].MigrateAsync(CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _nodes.ForEach(n => n.Dispose());
        NpgsqlConnection.ClearAllPools();
        _rows.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Concurrent_policy_changes_on_several_nodes_get_distinct_consecutive_versions()
    {
        var policies = PolicyCatalog.All.Select(p => p.Name).ToList();
        var changes = Enumerable.Range(0, 24).Select(i =>
        {
            var node = _nodes[i % _nodes.Count];
            var service = new PolicyService(node, new SettingsService(node, TimeProvider.System), TimeProvider.System);
            return Task.Run(() => service.SetStateAsync(policies[i % policies.Count], i % 2 == 0 ? PolicyState.Staged : PolicyState.Enabled, CancellationToken.None));
        }).ToList();
        var results = await Task.WhenAll(changes);

        Assert.Equal(Enumerable.Range(2, changes.Count), results.Select(r => r.PolicyVersion).Order());
    }
}
