using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Support;

/// <summary>
/// A test class over a database of its own (SQLite or PostgreSQL, one subclass each), migrated to this release's schema
/// before each test and dropped after it.
/// </summary>
public abstract class MigratedDatabaseTests(TestDatabase db) : IAsyncLifetime
{
    /// <summary>The raw database, for the SQL an attacker or an earlier release would run.</summary>
    protected TestDatabase Db => db;

    /// <summary>The migrated database, as the service opens it.</summary>
    protected AdoDatabase Database { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = db.Open();
        await Database.MigrateAsync(CancellationToken.None);
        await SetUpAsync();
    }

    /// <summary>What a class puts in the migrated database before each of its tests.</summary>
    protected virtual Task SetUpAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Database.Dispose();
        db.Dispose();
        return Task.CompletedTask;
    }
}
