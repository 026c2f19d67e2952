using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Policies;
using OpenHgs.Service.Tests.Storage;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Testing;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Service.Tests.Attestation;

public sealed class SqliteEkCertificateAttachTests() : EkCertificateAttachTests(TestDatabase.Sqlite("ek-attach"));

public sealed class PostgresEkCertificateAttachTests() : EkCertificateAttachTests(TestDatabase.Postgres("ek-attach"));

/// <summary>
/// Design change 85 on both databases: <c>hgs hosts set-ek-certificate</c> stores the EK certificate of a registered
/// TPM host that has none (registered without one, or before migration 10), as strictly as registration, with a record
/// the row's history check then requires; a CRL imported afterwards reaches the host. Every refusal changes nothing.
/// </summary>
public abstract class EkCertificateAttachTests(TestDatabase db) : MigratedDatabaseTests(db), IDisposable
{
    private readonly TestEkChain _chain = new();
    private readonly CheckpointKeyToken _checkpoints = new();
    private AuditWriter _writer = null!;

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
    public async Task A_host_registered_without_a_certificate_gets_it_stored_keeps_its_ak_and_a_later_crl_revokes_it()
    {
        await RegisterWithoutCertificateAsync("tpm-host");
        byte[] akPublic = await ActivateAkAsync("tpm-host");

        var info = await Enrollment.SetEkCertificateAsync("tpm-host", Attach(_chain.EkCertificate), CancellationToken.None);

        Assert.Equal("stored", info.EkCertificate);
        var host = await CurrentAsync();
        Assert.Equal(_chain.EkCertificate, host.Record.EkCertificate);
        Assert.Equal(2, EkRevocationPath.Parse(host.Record.EkChain!).Count);
        var record = (await Database.ReadAsync(s => s.History.AboutAsync("tpm-host", AuditEvents.HostEkCertificateSet), CancellationToken.None)).Single();
        Assert.Equal((host.Record.KeyThumbprint, HostTable.EkCertificateDigest(_chain.EkCertificate), "none"),
            (record.Detail("keyThumbprint"), record.Detail("ekCertificateSha256"), record.Detail("previous")));

        // The same registration: its activated AK stays current, and every row passes 'hgs audit rows'.
        Assert.Equal(akPublic, (await Database.ReadAsync(s => s.Tpm.FindAttestationKeyAsync(host), CancellationToken.None))!.AkPublic);
        Assert.Empty(await RowFindingsAsync());

        // The chain now stored is what a CRL imported afterwards reaches (design change 75's check).
        await new TpmCrlService(Database, TimeProvider.System, NullLogger<TpmCrlService>.Instance)
            .AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [TestEkChain.EkSerial])), CancellationToken.None);
        var snapshot = await Database.ReadSnapshotAsync(PolicyService.LoadAsync, CancellationToken.None);
        Assert.Equal(EkCertificateFailure.Revoked, snapshot.EkRevocation.Check(EkRevocationPath.Parse(host.Record.EkChain!), DateTimeOffset.UtcNow)?.Failure);
    }

    [Fact]
    public async Task A_host_registered_before_migration_10_gets_its_certificate_stored()
    {
        // The row as release 9 wrote it: no EK columns, its MAC over the five columns it had, no record naming it.
        byte[] ek = _chain.Ek.ToBytes();
        string thumbprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(ek));
        long addedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        byte[] mac = Db.Rows.Authenticator.Compute(RowMac.Encode("hosts", "tpm-host", ["tpm", ek, thumbprint, addedAt]));
        await Db.ExecuteAsync("INSERT INTO hosts (name, mode, public_key, key_thumbprint, added_at, mac) VALUES ('tpm-host', 'tpm', @k, @t, @a, @m)",
            ("@k", ek), ("@t", thumbprint), ("@a", addedAt), ("@m", mac));
        Assert.Equal("not-stored", HostRegistry.EkCertificateState((await CurrentAsync()).Record));

        await Enrollment.SetEkCertificateAsync("tpm-host", Attach(_chain.EkCertificate), CancellationToken.None);

        Assert.Equal("stored", HostRegistry.EkCertificateState((await CurrentAsync()).Record));
        var record = (await Database.ReadAsync(s => s.History.AboutAsync("tpm-host", AuditEvents.HostEkCertificateSet), CancellationToken.None)).Single();
        Assert.Equal("not-stored", record.Detail("previous"));
        Assert.Empty(await RowFindingsAsync());
    }

    [Fact]
    [Trait("Attack", "A163")]
    public async Task The_row_from_before_the_attachment_put_back_with_sql_is_superseded_by_its_record()
    {
        await RegisterWithoutCertificateAsync("tpm-host");
        var putBack = await SnapshotRowAsync();
        await Enrollment.SetEkCertificateAsync("tpm-host", Attach(_chain.EkCertificate), CancellationToken.None);
        long attached = (await Database.ReadAsync(s => s.History.AboutAsync("tpm-host", AuditEvents.HostEkCertificateSet), CancellationToken.None)).Single().Sequence;

        // Its MAC verifies (OpenHGS wrote it), but it would make the host unchecked again: the record says it was replaced.
        await putBack();
        var refused = await Assert.ThrowsAsync<RowIntegrityException>(CurrentAsync);
        Assert.Equal(("hosts", "tpm-host", attached), (refused.Table, refused.Key, refused.SupersededBy));
        Assert.Equal("HostRecordIntegrity", RowIntegrityProblems.ToRefusal(refused).Code);
        var finding = Assert.Single(await RowFindingsAsync());
        Assert.Equal(("hosts", "tpm-host", "superseded", attached), (finding.Table, finding.Key, finding.Problem, finding.SupersededBy));
    }

    [Fact]
    [Trait("Attack", "A160")]
    public async Task Another_tpms_certificate_is_refused_as_a_key_mismatch_and_changes_nothing()
    {
        await RegisterWithoutCertificateAsync("tpm-host");
        using var other = new TestEkChain("Other TPM");
        await Enrollment.AddRootAsync(other.Root.ExportCertificatePem(), CancellationToken.None);
        await Enrollment.AddRootAsync(other.Intermediate.ExportCertificatePem(), CancellationToken.None);

        // A genuine certificate chaining to a registered root, of another TPM's EK.
        await AssertRefusedAsync("tpm-host", Attach(other.EkCertificate), "EkCertificateKeyMismatch");
    }

    public static TheoryData<string, string> BadInput => new()
    {
        { "not-der", "EkCertificateMalformedCertificate" },
        { "oversized", "EvidenceMalformed" },
        { "not-base64", "EvidenceMalformed" },
        { "unknown-issuer", "EkCertificateUntrustedChain" },
        { "revoked", "EkCertificateRevoked" },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    [Trait("Attack", "A161")]
    public async Task A_certificate_registration_would_refuse_is_refused_with_its_code_and_changes_nothing(string input, string code)
    {
        await RegisterWithoutCertificateAsync("tpm-host");
        using var foreign = new TestEkChain("Unregistered CA");
        if (input == "revoked")
        {
            await new TpmCrlService(Database, TimeProvider.System, NullLogger<TpmCrlService>.Instance)
                .AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [TestEkChain.EkSerial])), CancellationToken.None);
        }

        var request = input switch
        {
            "not-der" => Attach([0x30, 0x03, 0x02, 0x01, 0x01]),
            "oversized" => Attach(new byte[TpmEnrollmentService.MaxEkCertificateBytes * 2]),
            "not-base64" => new SetEkCertificateRequest("not base64!"),
            "unknown-issuer" => Attach(_chain.EkCertificateIssuedBy(foreign)),
            _ => Attach(_chain.EkCertificate),
        };
        await AssertRefusedAsync("tpm-host", request, code);
    }

    [Fact]
    [Trait("Attack", "A162")]
    public async Task A_host_with_a_stored_certificate_is_refused_even_for_the_same_key()
    {
        await Enrollment.AddHostAsync(new AddTpmHostRequest("tpm-host",
            new TpmIdentity(1, Convert.ToBase64String(_chain.Ek.ToBytes()), Convert.ToBase64String(_chain.EkCertificate)), AllowWithoutCertificate: false), CancellationToken.None);

        await AssertRefusedAsync("tpm-host", Attach(_chain.EkCertificate), "EkCertificateAlreadyStored");
    }

    [Fact]
    public async Task An_unknown_host_or_a_host_key_host_is_refused_and_nothing_changes()
    {
        await RegisterWithoutCertificateAsync("tpm-host");
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        await new HostRegistry(Database, TimeProvider.System).AddHostKeyAsync("key-host", key.ExportSubjectPublicKeyInfoPem(), CancellationToken.None);

        await AssertRefusedAsync("no-such-host", Attach(_chain.EkCertificate), "UnknownHost");
        await AssertRefusedAsync("key-host", Attach(_chain.EkCertificate), "HostNotTpm");
        await AssertRefusedAsync("bad\nname", Attach(_chain.EkCertificate), "HostNameInvalid");
    }

    private static SetEkCertificateRequest Attach(byte[] der) => new(Convert.ToBase64String(der));

    private Task RegisterWithoutCertificateAsync(string name) =>
        Enrollment.AddHostAsync(new AddTpmHostRequest(name, new TpmIdentity(1, Convert.ToBase64String(_chain.Ek.ToBytes()), null), AllowWithoutCertificate: true), CancellationToken.None);

    /// <summary>An AK row and its activation record, as a completed activation writes them.</summary>
    private async Task<byte[]> ActivateAkAsync(string name)
    {
        byte[] akPublic = System.Security.Cryptography.RandomNumberGenerator.GetBytes(64);
        await Database.InTransactionAsync(async s =>
        {
            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord(name, akPublic, DateTimeOffset.UtcNow));
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, name, null,
                ("mode", AttestationModeNames.Tpm), ("akName", "000b00"), ("akPublicSha256", TpmTable.AkPublicDigest(akPublic))));
        }, CancellationToken.None);
        return akPublic;
    }

    private async Task<CurrentHost> CurrentAsync()
    {
        string thumbprint = TpmEvidenceParsing.EkThumbprint(_chain.Ek.ToBytes());
        return (await Database.ReadAsync(s => s.Hosts.FindCurrentByThumbprintAsync(thumbprint), CancellationToken.None))!;
    }

    /// <summary>The host rows and the audit trail, as text: what a refusal must leave as it was.</summary>
    private async Task<string> StateAsync() =>
        await Db.TextAsync("SELECT name, mode, key_thumbprint, ek_chain, added_at FROM hosts ORDER BY name")
        + "\n" + string.Join(',', (await Database.ReadAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rows
            .Select(h => h.Name + ":" + HostRegistry.EkCertificateState(h) + ":" + (h.EkCertificate is null ? "-" : HostTable.EkCertificateDigest(h.EkCertificate))))
        + "\n" + await Db.TextAsync("SELECT COUNT(*), MAX(seq) FROM audit_log");

    private async Task AssertRefusedAsync(string name, SetEkCertificateRequest request, string code)
    {
        string before = await StateAsync();
        var refused = await Assert.ThrowsAsync<ServiceException>(() => Enrollment.SetEkCertificateAsync(name, request, CancellationToken.None));
        Assert.Equal(code, refused.Code);
        Assert.DoesNotContain('\n', refused.Message);
        Assert.Equal(before, await StateAsync());
        Assert.Empty(await RowFindingsAsync());
    }

    /// <summary>What puts the host row back as it is now (its chain and MAC; its certificate is not set yet).</summary>
    private async Task<Func<Task>> SnapshotRowAsync()
    {
        object chain = (await Db.ScalarAsync("SELECT ek_chain FROM hosts WHERE name = 'tpm-host'"))!;
        object mac = (await Db.ScalarAsync("SELECT mac FROM hosts WHERE name = 'tpm-host'"))!;
        return () => Db.ExecuteAsync("UPDATE hosts SET ek_certificate = NULL, ek_chain = @e, mac = @m WHERE name = 'tpm-host'", ("@e", chain), ("@m", mac));
    }

    private async Task<List<RowIntegrityFinding>> RowFindingsAsync() =>
        [.. (await new RowIntegrityCheck(Database).CheckAsync(CancellationToken.None)).Findings.Where(f => f.Table is "hosts" or "tpm_attestation_keys" or "audit_log")];

    public void Dispose()
    {
        _writer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _chain.Dispose();
        _checkpoints.Dispose();
    }
}
