using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;
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
    public async Task The_kps_signing_key_is_ec_p256_by_default_and_rsa_when_configured()
    {
        // Default (new installations): EC P-256, and the encryption certificate it issues is ecdsa-with-SHA256.
        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(KeyAlgorithm.EcP256, _store.FindKey(snapshot.Primary(FabricKeyRole.Signing).Record.Label)!.Algorithm);
        Assert.Equal("1.2.840.10045.4.3.2", snapshot.Primary(FabricKeyRole.Encryption).Certificate.SignatureAlgorithm.Value);
        (await _keys.ExportGuardianAsync("Fabric", CancellationToken.None)).Validate();

        // Configured RSA: a new signing key is RSA, and an encryption key it issues (once primary) is signed RS256.
        var rsaKeys = new FabricKeyManager(_store, _database, TimeProvider.System, NullLogger<FabricKeyManager>.Instance, new FabricKeyOptions(KeyAlgorithm.Rsa2048));
        var rsaSigning = await rsaKeys.AddAsync(FabricKeyRole.Signing, CancellationToken.None);
        Assert.Equal(KeyAlgorithm.Rsa2048, _store.FindKey(rsaSigning.Label)!.Algorithm);
        await rsaKeys.SetPrimaryAsync(rsaSigning.Id, CancellationToken.None);
        var encryption = await rsaKeys.AddAsync(FabricKeyRole.Encryption, CancellationToken.None);
        using var certificate = X509CertificateLoader.LoadCertificate(encryption.Certificate);
        Assert.Equal("1.2.840.113549.1.1.11", certificate.SignatureAlgorithm.Value);

        Assert.Throws<ArgumentOutOfRangeException>(() => new FabricKeyManager(_store, _database, TimeProvider.System, NullLogger<FabricKeyManager>.Instance, new FabricKeyOptions(KeyAlgorithm.EcP384)));
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
    [Fact]
    public async Task A_row_whose_key_the_store_does_not_hold_is_ignored_even_with_a_valid_mac()
    {
        // Rows written through the tables carry valid MACs: only the key store can tell these apart.
        var genuine = (await _keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner);
        using var foreignKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var foreign = new CertificateRequest("CN=foreign", foreignKey, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        await _database.InTransactionAsync(async s =>
        {
            // A label the store has no key for, and a label whose store key is not the certificate's.
            await s.FabricKeys.AddAsync(genuine.Record with { Id = "att-unheld", Label = "openhgs-att-unheld", Certificate = foreign.RawData, IsPrimary = false });
            await s.FabricKeys.AddAsync(genuine.Record with { Id = "att-mismatch", Label = "openhgs-att-shared", Certificate = foreign.RawData, IsPrimary = false });
            return 0;
        }, CancellationToken.None);
        _store.CreateKey(new CreateKeyRequest("openhgs-att-shared", KeyAlgorithm.EcP256, KeyUsage.Sign));
        _keys.Invalidate();

        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(
            [new RejectedFabricKey("att-mismatch", FabricKeyRejection.PublicKeyMismatch), new RejectedFabricKey("att-unheld", FabricKeyRejection.KeyNotHeld)],
            snapshot.Rejected.OrderBy(r => r.Id, StringComparer.Ordinal).ToArray());
        Assert.DoesNotContain(snapshot.Keys, k => k.Id is "att-unheld" or "att-mismatch");
        Assert.Null(snapshot.FindByCertificate(FabricKeyRole.AttestationSigner, foreign.RawData));
        Assert.Equal(genuine.Id, snapshot.Primary(FabricKeyRole.AttestationSigner).Id);
    }

    [Fact]
    public async Task A_row_edited_outside_openhgs_is_ignored_refused_for_changes_and_can_be_removed()
    {
        var added = await _keys.AddAsync(FabricKeyRole.Signing, CancellationToken.None);
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "hgs.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"UPDATE fabric_keys SET is_primary = 1 WHERE id = '{added.Id}'";
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        _keys.Invalidate();
        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(new RejectedFabricKey(added.Id, FabricKeyRejection.RowIntegrity), Assert.Single(snapshot.Rejected));
        Assert.NotEqual(added.Id, snapshot.Primary(FabricKeyRole.Signing).Id);
        var refused = await Assert.ThrowsAsync<ServiceException>(() => _keys.SetEnabledAsync(added.Id, false, CancellationToken.None));
        Assert.Equal("FabricKeyIntegrity", refused.Code);

        await _keys.RemoveAsync(added.Id, CancellationToken.None);
        Assert.Empty((await _keys.GetSnapshotAsync(CancellationToken.None)).Rejected);
        var removal = (await _database.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single();
        Assert.Equal(("admin.keys.remove", added.Id, "RowIntegrity"), (removal.Event, removal.Subject, removal.Reason));
    }

    [Fact]
    [Trait("Attack", "A100")]
    public async Task Rows_from_before_a_rotation_put_back_are_ignored_until_the_admin_sets_the_primary_again()
    {
        // Design change 64: the old encryption key primary and enabled again, the new one demoted, every MAC valid.
        var old = (await _keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.Encryption);
        var added = await _keys.AddAsync(FabricKeyRole.Encryption, CancellationToken.None);
        await ExecuteAsync("CREATE TABLE saved_keys AS SELECT * FROM fabric_keys");
        await _keys.SetPrimaryAsync(added.Id, CancellationToken.None);
        await _keys.SetEnabledAsync(old.Id, false, CancellationToken.None);
        await ExecuteAsync("DELETE FROM fabric_keys; INSERT INTO fabric_keys SELECT * FROM saved_keys");

        _keys.Invalidate();
        var snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(
            [new RejectedFabricKey(old.Id, FabricKeyRejection.RowIntegrity), new RejectedFabricKey(added.Id, FabricKeyRejection.RowIntegrity)],
            snapshot.Rejected.OrderBy(r => r.Id == added.Id));
        Assert.DoesNotContain(snapshot.OfRole(FabricKeyRole.Encryption), k => k.Id == old.Id || k.Id == added.Id);
        Assert.Equal("NoPrimaryKey", (await Assert.ThrowsAsync<ServiceException>(() => _keys.ExportGuardianAsync("Fabric", CancellationToken.None))).Code);

        // The remedy: set the primary (and disable the old key) again; the rows are rewritten with new records.
        await _keys.SetPrimaryAsync(added.Id, CancellationToken.None);
        await _keys.SetEnabledAsync(old.Id, false, CancellationToken.None);
        snapshot = await _keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Empty(snapshot.Rejected);
        Assert.Equal(added.Certificate, (await _keys.ExportGuardianAsync("Fabric", CancellationToken.None)).EncryptionCertificate);
    }

    [Fact]
    public async Task A_removed_key_put_back_is_ignored()
    {
        var added = await _keys.AddAsync(FabricKeyRole.Signing, CancellationToken.None);
        await ExecuteAsync("CREATE TABLE saved_keys AS SELECT * FROM fabric_keys");
        await _keys.RemoveAsync(added.Id, CancellationToken.None);
        await ExecuteAsync($"INSERT INTO fabric_keys SELECT * FROM saved_keys WHERE id = '{added.Id}'");

        _keys.Invalidate();
        Assert.Equal(new RejectedFabricKey(added.Id, FabricKeyRejection.RowIntegrity), Assert.Single((await _keys.GetSnapshotAsync(CancellationToken.None)).Rejected));
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "hgs.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_signer_disabled_while_the_snapshot_loads_is_not_trusted_once_the_change_returned()
    {
        var old = (await _keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner);
        var added = await _keys.AddAsync(FabricKeyRole.AttestationSigner, CancellationToken.None);
        await _keys.SetPrimaryAsync(added.Id, CancellationToken.None);
        using var gated = new HeldReadDatabase(_database);
        var keys = new FabricKeyManager(_store, gated, TimeProvider.System, NullLogger<FabricKeyManager>.Instance);

        // A refresh reads the rows (old signer enabled) and is held before it stores its snapshot.
        var hold = gated.HoldNextRead();
        var loading = keys.GetSnapshotAsync(CancellationToken.None);
        await hold.ReadDone.Task;
        await keys.SetEnabledAsync(old.Id, false, CancellationToken.None);
        hold.Release.SetResult();
        Assert.Contains(old.Id, (await loading).Enabled(FabricKeyRole.AttestationSigner).Select(k => k.Id));

        // The change has returned: no snapshot loaded from rows read before it may be used any more.
        Assert.DoesNotContain(old.Id, (await keys.GetSnapshotAsync(CancellationToken.None)).Enabled(FabricKeyRole.AttestationSigner).Select(k => k.Id));
    }

    /// <summary>The real database, with one read that can be held after it ran (a refresh overtaken by a change).</summary>
    private sealed class HeldReadDatabase(IHgsDatabase inner) : IHgsDatabase
    {
        private Hold? _hold;

        public string Provider => inner.Provider;

        public Hold HoldNextRead() => _hold = new Hold();

        public Task MigrateAsync(CancellationToken cancellationToken) => inner.MigrateAsync(cancellationToken);

        public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => inner.GetSchemaVersionAsync(cancellationToken);

        public Task<T> InTransactionAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) => inner.InTransactionAsync(work, cancellationToken);

        public Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) =>
            HeldAsync(() => inner.ReadAsync(work, cancellationToken));

        public Task<T> ReadSnapshotAsync<T>(Func<HgsSession, Task<T>> work, CancellationToken cancellationToken) =>
            HeldAsync(() => inner.ReadSnapshotAsync(work, cancellationToken));

        private async Task<T> HeldAsync<T>(Func<Task<T>> read)
        {
            var result = await read();
            if (Interlocked.Exchange(ref _hold, null) is { } hold)
            {
                hold.ReadDone.SetResult();
                await hold.Release.Task;
            }

            return result;
        }

        public Task<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

        public void Dispose()
        {
        }
    }

    private sealed class Hold
    {
        public TaskCompletionSource ReadDone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
