using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Tests.Storage;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;
using OpenHgs.Testing;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Tests.Attestation;

public sealed class SqliteEkCertificateStorageTests() : EkCertificateStorageTests(TestDatabase.Sqlite("ek-storage"), TestDatabase.Sqlite);

public sealed class PostgresEkCertificateStorageTests() : EkCertificateStorageTests(TestDatabase.Postgres("ek-storage"), TestDatabase.Postgres);

/// <summary>
/// Design change 75 through the services, on both databases: a TPM host's EK certificate and chain are stored with its
/// registration under the row MAC; a CRL imported afterwards reaches it through the policy snapshot attestation decides
/// with, and the import names it; a host with no stored chain is named as not checkable; migration 10 keeps the rows of
/// schema 9 and drops <c>tpm_activations</c>.
/// </summary>
public abstract class EkCertificateStorageTests(TestDatabase db, Func<string, TestDatabase> another) : MigratedDatabaseTests(db), IDisposable
{
    private readonly TestEkChain _chain = new();
    private readonly CheckpointKeyToken _checkpoints = new();
    private AuditWriter _writer = null!;

    private TpmCrlService Crls => new(Database, TimeProvider.System, NullLogger<TpmCrlService>.Instance);

    private TpmEnrollmentService Enrollment =>
        new(Database, _writer, new ActivationCredentials(Db.Rows.Authenticator, TimeProvider.System), TimeProvider.System, NullLogger<TpmEnrollmentService>.Instance);

    protected override async Task SetUpAsync()
    {
        _writer = new AuditWriter(Database, _checkpoints.Checkpointer(Database), new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance);
        await Database.InTransactionAsync(s => ExplicitPolicyStates.EnsureAsync(s, "init"), CancellationToken.None);
        await Enrollment.AddRootAsync(_chain.Root.ExportCertificatePem(), CancellationToken.None);
        await Enrollment.AddRootAsync(_chain.Intermediate.ExportCertificatePem(), CancellationToken.None);
    }

    [Fact]
    [Trait("Attack", "A123")]
    public async Task A_crl_imported_after_registration_revokes_the_stored_chain_in_the_next_policy_snapshot_and_the_import_names_the_host()
    {
        await Enrollment.AddHostAsync(Request("tpm-host"), CancellationToken.None);
        using (var bare = new TestEkChain("Bare TPM"))
        {
            await Enrollment.AddHostAsync(new AddTpmHostRequest("bare-host", new TpmIdentity(1, Convert.ToBase64String(bare.Ek.ToBytes()), null), AllowWithoutCertificate: true), CancellationToken.None);
        }


        var hosts = (await Database.ReadAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rows.ToDictionary(h => h.Name);
        Assert.Equal(_chain.EkCertificate, hosts["tpm-host"].EkCertificate);
        Assert.Equal(("stored", "none"), (HostRegistry.EkCertificateState(hosts["tpm-host"]), HostRegistry.EkCertificateState(hosts["bare-host"])));

        // A CRL of the intermediate that lists another serial: nothing revoked, the host still passes.
        var other = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [[0x77]])), CancellationToken.None);
        Assert.Null(other.RevokedHosts);
        Assert.Equal(["bare-host"], other.UncheckedHosts);
        Assert.Null(await CheckAsync("tpm-host"));

        // The CRL listing it: the import names it (reply and record), and the snapshot of the version it made refuses it.
        int before = (await LoadPoliciesAsync()).Version;
        var revoking = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(2, [TestEkChain.EkSerial])), CancellationToken.None);
        var named = Assert.Single(revoking.RevokedHosts!);
        Assert.Equal("tpm-host", named.Name);
        Assert.Contains("the EK certificate (serial 0123456789)", named.Detail, StringComparison.Ordinal);
        Assert.Contains($"by the CRL of {_chain.Intermediate.Subject} (number 02)", named.Detail, StringComparison.Ordinal);
        var record = (await Database.ReadAsync(s => s.History.AboutAsync(TpmCrlTable.SubjectPrefix + revoking.IssuerThumbprint, AuditEvents.SettingChanged), CancellationToken.None))[0];
        Assert.Equal(("tpm-host", "1"), (record.Detail("revokedHosts"), record.Detail("uncheckedHosts")));
        var snapshot = await LoadPoliciesAsync();
        Assert.Equal((before + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), record.Detail("policyVersion"));
        Assert.Equal(before + 1, snapshot.Version);
        var refused = await CheckAsync("tpm-host");
        Assert.Equal(EkCertificateFailure.Revoked, refused?.Failure);
        Assert.Equal(named.Detail, refused!.Detail);

        // The intermediate revoked by the root's CRL reaches the host too (its chain is stored, not only the EK certificate).
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(3, [])), CancellationToken.None);
        Assert.Null(await CheckAsync("tpm-host"));
        var root = await Crls.AddAsync(TestCrl.Pem(_chain.RootCrl(1, [TestEkChain.IntermediateSerial])), CancellationToken.None);
        Assert.Equal("tpm-host", Assert.Single(root.RevokedHosts!).Name);
        Assert.Contains("the intermediate certificate 1 of its chain (serial 4242)", (await CheckAsync("tpm-host"))!.Detail, StringComparison.Ordinal);

        // Removing the CRL is a new version too, without it.
        await Crls.RemoveAsync(root.IssuerThumbprint, CancellationToken.None);
        Assert.Null(await CheckAsync("tpm-host"));
    }

    [Fact]
    [Trait("Attack", "A124")]
    public async Task A_stale_or_deleted_crl_of_a_ca_of_the_stored_chain_fails_closed()
    {
        await Enrollment.AddHostAsync(Request("tpm-host"), CancellationToken.None);
        var crl = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [], DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddMinutes(1))), CancellationToken.None);
        Assert.Equal(EkCertificateFailure.CrlExpired, (await CheckAsync("tpm-host", DateTimeOffset.UtcNow.AddMinutes(2)))?.Failure);

        await Db.ExecuteAsync("DELETE FROM tpm_crls");
        var unavailable = await CheckAsync("tpm-host");
        Assert.Equal(EkCertificateFailure.CrlUnavailable, unavailable?.Failure);
        Assert.Contains($"the CRL of {_chain.Intermediate.Subject} failed its integrity check", unavailable!.Detail, StringComparison.Ordinal);
        Assert.NotNull(crl);

        // Attestation names each failure as registration does ("EkCertificate" + the failure).
        Assert.Equal(AttestationFailureCode.EkCertificateCrlUnavailable, Enum.Parse<AttestationFailureCode>("EkCertificate" + unavailable.Failure));
    }

    public static TheoryData<string> Tamperings => new()
    {
        "UPDATE hosts SET ek_chain = '' WHERE name = 'tpm-host'",
        "UPDATE hosts SET ek_chain = NULL, ek_certificate = NULL WHERE name = 'tpm-host'",
        "UPDATE hosts SET ek_certificate = NULL WHERE name = 'tpm-host'",
    };

    [Theory]
    [MemberData(nameof(Tamperings))]
    [Trait("Attack", "A125")]
    public async Task A_stored_ek_certificate_or_chain_changed_or_cleared_with_sql_fails_the_row_mac(string sql)
    {
        await Enrollment.AddHostAsync(Request("tpm-host"), CancellationToken.None);
        string thumbprint = (await Database.ReadAsync(s => s.Hosts.FindByNameAsync("tpm-host"), CancellationToken.None))!.KeyThumbprint;
        await Db.ExecuteAsync(sql);

        // Made to look unchecked (registered without a certificate, or before migration 10): refused, never unchecked.
        var failure = await Assert.ThrowsAsync<RowIntegrityException>(() => Database.ReadAsync(s => s.Hosts.FindCurrentByThumbprintAsync(thumbprint), CancellationToken.None));
        Assert.Equal(("hosts", "tpm-host"), (failure.Table, failure.Key));
        var rejected = Assert.Single((await Database.ReadAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rejected);
        Assert.Equal("tpm-host", rejected.Key);
    }

    [Fact]
    public async Task Migration_10_keeps_the_hosts_of_schema_9_unchecked_and_named_and_drops_tpm_activations()
    {
        using var old = another("ek-storage-upgrade");
        using (var release9 = old.Open())
        {
            await release9.MigrateToAsync(SqlDialect.TpmCrlVersion, CancellationToken.None);
        }

        // A host and a pending activation as release 9 wrote them (its row MAC covers the five columns it had).
        byte[] ek = _chain.Ek.ToBytes();
        string thumbprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(ek));
        long addedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        byte[] mac = old.Rows.Authenticator.Compute(RowMac.Encode("hosts", "old-host", ["tpm", ek, thumbprint, addedAt]));
        await old.ExecuteAsync("INSERT INTO hosts (name, mode, public_key, key_thumbprint, added_at, mac) VALUES (@n, 'tpm', @k, @t, @a, @m)",
            ("@n", "old-host"), ("@k", ek), ("@t", thumbprint), ("@a", addedAt), ("@m", mac));
        await old.ExecuteAsync("INSERT INTO tpm_activations (secret_hash, host_name, ak_public, expires_at) VALUES ('s', 'old-host', @k, 0)", ("@k", ek));

        using var current = old.Open();
        await current.MigrateAsync(CancellationToken.None);
        Assert.Equal(SqlDialect.CurrentVersion, await current.GetSchemaVersionAsync(CancellationToken.None));
        var schema = await current.ReadSchemaAsync(CancellationToken.None);
        Assert.Null(BackupCatalog.Difference(schema));
        Assert.False(schema.ContainsKey("tpm_activations"));
        var host = await current.ReadAsync(s => s.Hosts.FindCurrentByThumbprintAsync(thumbprint), CancellationToken.None);
        Assert.Equal((null, null), (host!.Record.EkCertificate, host.Record.EkChain));
        Assert.Equal("not-stored", HostRegistry.EkCertificateState(host.Record));
        Assert.Equal("not-stored", (await new HostRegistry(current, TimeProvider.System).ListPageAsync(new HostPageQuery(HostPageQuery.MaxLimit, null, null), CancellationToken.None)).Hosts.Single().EkCertificate);
    }

    private AddTpmHostRequest Request(string name) =>
        new(name, new TpmIdentity(1, Convert.ToBase64String(_chain.Ek.ToBytes()), Convert.ToBase64String(_chain.EkCertificate)), AllowWithoutCertificate: false);

    private Task<PolicySnapshot> LoadPoliciesAsync() => Database.ReadSnapshotAsync(PolicyService.LoadAsync, CancellationToken.None);

    /// <summary>What attestation finds for the host: its stored chain against the CRL index of the policy snapshot in force.</summary>
    private async Task<EkCertificateResult?> CheckAsync(string host, DateTimeOffset? at = null)
    {
        var record = await Database.ReadAsync(s => s.Hosts.FindByNameAsync(host), CancellationToken.None);
        return (await LoadPoliciesAsync()).EkRevocation.Check(EkRevocationPath.Parse(record!.EkChain!), at ?? DateTimeOffset.UtcNow);
    }

    public void Dispose()
    {
        _writer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _chain.Dispose();
        _checkpoints.Dispose();
    }
}
