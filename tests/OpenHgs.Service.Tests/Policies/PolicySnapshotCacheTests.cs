using Microsoft.Data.Sqlite;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage.Sqlite;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Policies;

/// <summary>
/// The evaluated policy set cached per policy version on a real SQLite database: one read per version, a change (by
/// this node's <see cref="PolicyService"/> or by another node sharing the database) is a new version and a new set,
/// a stale version yields the database's set, and only the newest versions are kept.
/// </summary>
public sealed class PolicySnapshotCacheTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-policy-cache-").FullName;
    private readonly SoftwareRowKey _rows = new();
    private SqliteDatabase _database = null!;
    private PolicyService _policies = null!;
    private PolicySnapshotCache _cache = null!;

    public async Task InitializeAsync()
    {
        _database = new SqliteDatabase(Path.Combine(_directory, "hgs.db"), TimeProvider.System, _rows.Authenticator);
        await _database.MigrateAsync(CancellationToken.None);
        // As server init leaves a fabric: every policy has a state row (design change 62).
        await _database.InTransactionAsync(s => ExplicitPolicyStates.EnsureAsync(s, "init"), CancellationToken.None);
        _policies = new PolicyService(_database, new SettingsService(_database, TimeProvider.System), TimeProvider.System);
        _cache = new PolicySnapshotCache(_database);
    }

    public Task DisposeAsync()
    {
        _database.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        _rows.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_version_is_read_once_and_every_change_is_a_new_version_with_its_own_set()
    {
        var initial = await _cache.GetAsync(1, CancellationToken.None);
        Assert.Equal(1, initial.Version);
        Assert.Empty(initial.Baselines);
        Assert.Same(initial, await _cache.GetAsync(1, CancellationToken.None));
        Assert.Equal(1, _cache.Loads);

        var added = await _policies.AddBaselineAsync(new AddBaselineRequest("rhel8", Document("Rhel8GCE")), CancellationToken.None);
        var withBaseline = await _cache.GetAsync(added.PolicyVersion, CancellationToken.None);
        Assert.Equal((2, "rhel8"), (withBaseline.Version, Assert.Single(withBaseline.Baselines).Name));

        var staged = await _policies.SetStateAsync("Hgs_SecureBootEnabled", PolicyState.Staged, CancellationToken.None);
        var withStaged = await _cache.GetAsync(staged.PolicyVersion, CancellationToken.None);
        Assert.Equal((3, PolicyState.Staged), (withStaged.Version, withStaged.States["Hgs_SecureBootEnabled"]));
        Assert.Single(withStaged.Baselines);

        var disabled = await _policies.SetStateAsync("Hgs_SecureBootEnabled", PolicyState.Disabled, CancellationToken.None);
        Assert.Equal(PolicyState.Disabled, (await _cache.GetAsync(disabled.PolicyVersion, CancellationToken.None)).States["Hgs_SecureBootEnabled"]);
        Assert.Equal(4, _cache.Loads);

        // Versions already read are still served (they are immutable) without reading again.
        Assert.Same(withBaseline, await _cache.GetAsync(2, CancellationToken.None));
        Assert.Equal(4, _cache.Loads);
    }

    [Fact]
    public async Task A_stale_version_yields_the_set_in_the_database_filed_under_its_own_version()
    {
        Assert.Empty((await _cache.GetAsync(1, CancellationToken.None)).Baselines);

        // Another node (its own PolicyService and settings cache) adds a baseline; then a policy state is changed by hand,
        // bumping the version in the same transaction as every writer of the policy tables must.
        var otherNode = new PolicyService(_database, new SettingsService(_database, TimeProvider.System), TimeProvider.System);
        await otherNode.AddBaselineAsync(new AddBaselineRequest("rhel8", Document("Rhel8GCE")), CancellationToken.None);
        await _database.InTransactionAsync(async s =>
        {
            await s.Policies.SetStateAsync("Hgs_BaselineMatch", "staged").ConfigureAwait(false);
            await s.Settings.SetAsync(SettingNames.PolicyVersion, "3").ConfigureAwait(false);
            return 0;
        }, CancellationToken.None);

        // This node's settings still say 2 (say): not cached, so the database's set is read, and it is version 3's.
        var fresh = await _cache.GetAsync(2, CancellationToken.None);
        Assert.Equal(3, fresh.Version);
        Assert.Equal(PolicyState.Staged, fresh.States["Hgs_BaselineMatch"]);
        Assert.Single(fresh.Baselines);
        Assert.Same(fresh, await _cache.GetAsync(3, CancellationToken.None));
        Assert.Equal(2, _cache.Loads);

        // Callers whose settings still say 2 get version 3's set without another read (until their settings refresh).
        Assert.Same(fresh, await _cache.GetAsync(2, CancellationToken.None));
        Assert.Equal(2, _cache.Loads);

        // Version 1 was cached before the changes and is still version 1's set: a caller comparing versions sees it is old.
        Assert.Equal(1, (await _cache.GetAsync(1, CancellationToken.None)).Version);
    }

    [Fact]
    public async Task Only_the_newest_versions_are_kept()
    {
        var first = await _cache.GetAsync(1, CancellationToken.None);
        for (int i = 0; i < PolicySnapshotCache.Capacity; i++)
        {
            var changed = await _policies.SetStateAsync("Hgs_DbxPresent", i % 2 == 0 ? PolicyState.Staged : PolicyState.Disabled, CancellationToken.None);
            await _cache.GetAsync(changed.PolicyVersion, CancellationToken.None);
        }

        long loads = _cache.Loads;
        Assert.Equal(PolicySnapshotCache.Capacity + 1, loads);
        int newest = 1 + PolicySnapshotCache.Capacity;
        for (int version = newest - PolicySnapshotCache.Capacity + 1; version <= newest; version++)
        {
            Assert.Equal(version, (await _cache.GetAsync(version, CancellationToken.None)).Version);
        }

        Assert.Equal(loads, _cache.Loads);

        // Version 1 was dropped: asking for it reads the database, which is at the newest version now.
        var reread = await _cache.GetAsync(1, CancellationToken.None);
        Assert.NotSame(first, reread);
        Assert.Equal(newest, reread.Version);
        Assert.Equal(loads + 1, _cache.Loads);
    }

    [Fact]
    public async Task Concurrent_misses_share_one_read()
    {
        await _policies.AddBaselineAsync(new AddBaselineRequest("rhel8", Document("Rhel8GCE")), CancellationToken.None);
        var sets = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => _cache.GetAsync(2, CancellationToken.None))));
        Assert.All(sets, s => Assert.Same(sets[0], s));
        Assert.Equal(1, _cache.Loads);
    }

    // The client's own description of a reference log: the document a lab registers without a TPM at hand.
    private static BaselineDocument Document(string name) =>
        BaselineCapture.Describe(TestData.ReadLog(name), "class-" + name, DateTimeOffset.UnixEpoch).Document;
}
