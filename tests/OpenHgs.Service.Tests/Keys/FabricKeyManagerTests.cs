using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Service.Tests.Keys;

/// <summary>Fabric key rules (one primary per role, primary cannot be disabled or removed) on a real software store and SQLite file.</summary>
public sealed class FabricKeyManagerTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-keys-").FullName;
    private IKeyStore _store = null!;
    private SqliteDatabase _database = null!;
    private FabricKeyManager _keys = null!;

    public async Task InitializeAsync()
    {
        _store = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(_directory, Production: false));
        _database = new SqliteDatabase(Path.Combine(_directory, "hgs.db"), TimeProvider.System, new KeyStoreRowAuthenticator(_store));
        await KeyStoreRowAuthenticator.EnsureKeyAsync(_store, _database, CancellationToken.None);
        await _database.MigrateAsync(CancellationToken.None);
        _keys = new FabricKeyManager(_store, _database, TimeProvider.System, NullLogger<FabricKeyManager>.Instance);
        await _keys.InitializeAsync(CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Initialization_creates_one_primary_key_per_role_inside_the_store()
    {
        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        foreach (var role in Enum.GetValues<FabricKeyRole>())
        {
            var primary = snapshot.Primary(role);
            Assert.NotNull(_store.FindKey(primary.Record.Label));
            Assert.Single(snapshot.OfRole(role));
        }

        Assert.Equal(KeyUsage.Decrypt, _store.FindKey(snapshot.Primary(FabricKeyRole.Encryption).Record.Label)!.Usage);
        Assert.Equal(KeyAlgorithm.EcP256, _store.FindKey(snapshot.Primary(FabricKeyRole.AttestationSigner).Record.Label)!.Algorithm);
    }

    [Fact]
    public async Task Exported_guardian_is_valid_metadata_issued_by_the_signing_key()
    {
        var metadata = await _keys.ExportGuardianAsync("Fabric", CancellationToken.None);
        var parsed = GuardianMetadata.Parse(metadata.ToJson());
        Assert.Equal("Fabric", parsed.Name);
        Assert.Equal(["RSA-OAEP-256", "RSA-OAEP"], parsed.WrapAlgorithms);
    }

    [Fact]
    public async Task Primary_key_cannot_be_disabled_or_removed()
    {
        var primary = (await _keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.Encryption);
        var disable = await Assert.ThrowsAsync<ServiceException>(() => _keys.SetEnabledAsync(primary.Id, false, CancellationToken.None));
        Assert.Equal("KeyIsPrimary", disable.Code);
        var remove = await Assert.ThrowsAsync<ServiceException>(() => _keys.RemoveAsync(primary.Id, CancellationToken.None));
        Assert.Equal("KeyIsPrimary", remove.Code);
    }

    [Fact]
    public async Task New_key_can_become_primary_and_the_old_one_then_disabled()
    {
        var old = (await _keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.Encryption);
        var added = await _keys.AddAsync(FabricKeyRole.Encryption, CancellationToken.None);
        Assert.False(added.IsPrimary);
        await _keys.SetPrimaryAsync(added.Id, CancellationToken.None);
        await _keys.SetEnabledAsync(old.Id, false, CancellationToken.None);
        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(added.Id, snapshot.Primary(FabricKeyRole.Encryption).Id);
        Assert.False(snapshot.Keys.Single(k => k.Id == old.Id).Record.Enabled);
        var guardian = await _keys.ExportGuardianAsync("Fabric", CancellationToken.None);
        Assert.Equal(added.Certificate, guardian.EncryptionCertificate);
    }

    [Fact]
    public async Task Disabled_key_cannot_become_primary()
    {
        var added = await _keys.AddAsync(FabricKeyRole.Signing, CancellationToken.None);
        await _keys.SetEnabledAsync(added.Id, false, CancellationToken.None);
        var error = await Assert.ThrowsAsync<ServiceException>(() => _keys.SetPrimaryAsync(added.Id, CancellationToken.None));
        Assert.Equal("KeyDisabled", error.Code);
    }

    [Fact]
    public async Task Unknown_key_is_named()
    {
        var error = await Assert.ThrowsAsync<ServiceException>(() => _keys.SetPrimaryAsync("enc-00000000", CancellationToken.None));
        Assert.Equal("UnknownKey", error.Code);
        Assert.Contains("enc-00000000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_change_is_audited_and_the_chain_stays_valid()
    {
        var added = await _keys.AddAsync(FabricKeyRole.AttestationSigner, CancellationToken.None);
        await _keys.SetEnabledAsync(added.Id, false, CancellationToken.None);
        var tail = await _database.ReadAsync(s => s.Audit.TailAsync(2), CancellationToken.None);
        Assert.Equal(["admin.keys.disable", "admin.keys.add"], tail.Select(e => e.Event));
        Assert.All(tail, e => Assert.Equal(added.Id, e.Subject));
        Assert.True((await _database.ReadAsync(s => s.Audit.VerifyAsync(), CancellationToken.None)).Valid);
    }
}
