using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Storage;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;
using OpenHgs.Storage.Backup;
using OpenHgs.Testing;

namespace OpenHgs.Service.Tests.Attestation;

public sealed class SqliteTpmCrlServiceTests() : TpmCrlServiceTests(TestDatabase.Sqlite("tpm-crls"), TestDatabase.Sqlite);

public sealed class PostgresTpmCrlServiceTests() : TpmCrlServiceTests(TestDatabase.Postgres("tpm-crls"), TestDatabase.Postgres);

/// <summary>
/// Design change 69 through the services, on both databases: importing a TPM manufacturer's CRL (each refusal by its code,
/// changing nothing), an EK registration refused as revoked, and CRL rows put back or deleted outside OpenHGS failing closed.
/// </summary>
public abstract class TpmCrlServiceTests(TestDatabase db, Func<string, TestDatabase> another) : MigratedDatabaseTests(db), IDisposable
{
    private readonly TestEkChain _chain = new();
    private readonly CheckpointKeyToken _checkpoints = new();

    private TpmCrlService Crls => new(Database, TimeProvider.System, NullLogger<TpmCrlService>.Instance);

    protected override async Task SetUpAsync()
    {
        var enrollment = await EnrollmentAsync();
        await enrollment.Service.AddRootAsync(_chain.Root.ExportCertificatePem(), CancellationToken.None);
        await enrollment.Service.AddRootAsync(_chain.Intermediate.ExportCertificatePem(), CancellationToken.None);
        await enrollment.Writer.DisposeAsync();
    }

    [Fact]
    public async Task A_crl_signed_by_a_registered_intermediate_imports_lists_and_removes_with_audit_records()
    {
        var added = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(0x10, [TestEkChain.EkSerial])), CancellationToken.None);
        Assert.Equal((_chain.Intermediate.Subject, "10", 1), (added.IssuerSubject, added.CrlNumber, added.Revoked));
        Assert.Equal(added, Assert.Single(await Crls.ListAsync(CancellationToken.None)));

        // DER (base64) is read as well; a newer CRL replaces the older one.
        byte[] newerCrl = _chain.IntermediateCrl(0x11, []);
        var newer = await Crls.AddAsync(Convert.ToBase64String(newerCrl), CancellationToken.None);
        Assert.Equal(("11", 0), (newer.CrlNumber, newer.Revoked));
        var records = await Database.ReadAsync(s => s.History.AboutAsync(TpmCrlTable.SubjectPrefix + added.IssuerThumbprint, AuditEvents.SettingChanged), CancellationToken.None);
        Assert.Equal(TpmCrlTable.Digest(newerCrl), records[0].Detail(TpmCrlTable.DigestDetail));

        var removed = await Crls.RemoveAsync(added.IssuerThumbprint[..16], CancellationToken.None);
        Assert.Equal(added.IssuerThumbprint, removed.IssuerThumbprint);
        Assert.Empty(await Crls.ListAsync(CancellationToken.None));
        Assert.Equal("true", (await Database.ReadAsync(s => s.History.AboutAsync(TpmCrlTable.SubjectPrefix + added.IssuerThumbprint, AuditEvents.SettingChanged), CancellationToken.None))[0].Detail("removed"));
        Assert.Empty(await CrlFindingsAsync());
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "not base64", "TpmCrlMalformed" },
        { "a certificate, not a CRL", "TpmCrlMalformed" },
        { "an issuer not registered", "TpmCrlIssuerUnknown" },
        { "signed by another key", "TpmCrlSignatureInvalid" },
        { "past its nextUpdate", "TpmCrlExpired" },
        { "an older CRL number", "TpmCrlRollback" },
        { "the same CRL number, other content", "TpmCrlRollback" },
        { "the same CRL again", "TpmCrlExists" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    [Trait("Attack", "A107")]
    public async Task An_import_refused_names_its_code_and_changes_nothing(string what, string code)
    {
        byte[] current = _chain.IntermediateCrl(5, [TestEkChain.EkSerial]);
        await Crls.AddAsync(TestCrl.Pem(current), CancellationToken.None);
        var before = await Crls.ListAsync(CancellationToken.None);
        long records = await AuditCountAsync();
        using var stranger = new TestEkChain("Stranger TPM");
        using var otherKey = System.Security.Cryptography.RSA.Create(2048);
        string crl = what switch
        {
            "not base64" => "this is no CRL",
            "a certificate, not a CRL" => Convert.ToBase64String(_chain.EkCertificate),
            "an issuer not registered" => TestCrl.Pem(stranger.IntermediateCrl(6, [])),
            "signed by another key" => TestCrl.Pem(TestCrl.Build(_chain.Intermediate, otherKey, 6, [], DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7))),
            "past its nextUpdate" => TestCrl.Pem(_chain.IntermediateCrl(6, [], DateTimeOffset.UtcNow.AddDays(-8), DateTimeOffset.UtcNow.AddDays(-1))),
            "an older CRL number" => TestCrl.Pem(_chain.IntermediateCrl(4, [])),
            "the same CRL number, other content" => TestCrl.Pem(_chain.IntermediateCrl(5, [])),
            "the same CRL again" => TestCrl.Pem(current),
            _ => throw new ArgumentOutOfRangeException(nameof(what), what, null),
        };

        var refused = await Assert.ThrowsAsync<ServiceException>(() => Crls.AddAsync(crl, CancellationToken.None));
        Assert.Equal(code, refused.Code);
        Assert.Equal(before, await Crls.ListAsync(CancellationToken.None));
        Assert.Equal(records, await AuditCountAsync());
    }

    [Fact]
    [Trait("Attack", "A104")]
    public async Task A_revoked_ek_certificate_or_intermediate_is_refused_at_registration_by_name_and_nothing_is_registered()
    {
        await using var enrollment = await EnrollmentAsync();
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [TestEkChain.EkSerial])), CancellationToken.None);
        var revoked = await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("revoked-host"), CancellationToken.None));
        Assert.Equal("EkCertificateRevoked", revoked.Code);
        Assert.Contains("the EK certificate (serial 0123456789)", revoked.Message, StringComparison.Ordinal);
        Assert.Contains($"by the CRL of {_chain.Intermediate.Subject}", revoked.Message, StringComparison.Ordinal);

        // A newer CRL without it, but the root's CRL revoking the intermediate: refused again, naming the intermediate.
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(2, [])), CancellationToken.None);
        await Crls.AddAsync(TestCrl.Pem(_chain.RootCrl(1, [TestEkChain.IntermediateSerial])), CancellationToken.None);
        var intermediate = await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("revoked-host"), CancellationToken.None));
        Assert.Equal("EkCertificateRevoked", intermediate.Code);
        Assert.Contains($"the intermediate {_chain.Intermediate.Subject} (serial 4242)", intermediate.Message, StringComparison.Ordinal);
        Assert.Empty((await Database.ReadAsync(s => s.Hosts.ListAsync(), CancellationToken.None)).Rows);

        await Crls.AddAsync(TestCrl.Pem(_chain.RootCrl(2, [])), CancellationToken.None);
        Assert.Equal("revoked-host", (await enrollment.Service.AddHostAsync(Request("revoked-host"), CancellationToken.None)).Name);
    }

    [Fact]
    [Trait("Attack", "A106")]
    public async Task A_crl_row_deleted_outside_openhgs_fails_closed_and_is_reported_missing()
    {
        await using var enrollment = await EnrollmentAsync();
        var crl = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [TestEkChain.EkSerial])), CancellationToken.None);
        await Db.ExecuteAsync("DELETE FROM tpm_crls");

        var refused = await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("host"), CancellationToken.None));
        Assert.Equal("EkCertificateCrlUnavailable", refused.Code);
        var finding = Assert.Single(await CrlFindingsAsync());
        Assert.Equal(("tpm_crls", crl.IssuerThumbprint, "missing"), (finding.Table, finding.Key, finding.Problem));

        // The remedy: remove the CRL (recorded), or import it again.
        await Crls.RemoveAsync(crl.IssuerThumbprint, CancellationToken.None);
        Assert.Empty(await CrlFindingsAsync());
    }

    [Fact]
    [Trait("Attack", "A106")]
    public async Task An_older_crl_put_back_outside_openhgs_is_not_used_and_is_reported_superseded()
    {
        await using var enrollment = await EnrollmentAsync();
        var older = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [])), CancellationToken.None);
        await Db.ExecuteAsync("CREATE TABLE saved_tpm_crls AS SELECT * FROM tpm_crls");
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(2, [TestEkChain.EkSerial])), CancellationToken.None);
        long replacement = (await Database.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single().Sequence;
        await Db.ExecuteAsync("DELETE FROM tpm_crls");
        await Db.ExecuteAsync("INSERT INTO tpm_crls SELECT * FROM saved_tpm_crls");

        Assert.Empty(await Crls.ListAsync(CancellationToken.None));
        var refused = await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("host"), CancellationToken.None));
        Assert.Equal("EkCertificateCrlUnavailable", refused.Code);
        var finding = Assert.Single(await CrlFindingsAsync());
        Assert.Equal(("tpm_crls", older.IssuerThumbprint, "superseded", (long?)replacement), (finding.Table, finding.Key, finding.Problem, finding.SupersededBy));

        // Import the current CRL again over the put-back row: the revocation holds.
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(3, [TestEkChain.EkSerial])), CancellationToken.None);
        Assert.Equal("EkCertificateRevoked", (await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("host"), CancellationToken.None))).Code);
    }

    [Fact]
    [Trait("Attack", "A107")]
    public async Task A_ca_has_one_crl_whatever_certificate_of_it_is_registered_so_an_older_one_cannot_come_in_under_its_renewal()
    {
        await using var enrollment = await EnrollmentAsync();
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(5, [TestEkChain.EkSerial])), CancellationToken.None);

        // A renewal whose thumbprint sorts first: the next import names it as the CRL's issuer (the first registered
        // certificate of the CA), so a check by thumbprint alone would find no CRL to compare with.
        using var renewed = RenewalSortingBefore(_chain.Intermediate);
        await enrollment.Service.AddRootAsync(renewed.ExportCertificatePem(), CancellationToken.None);
        long records = await AuditCountAsync();

        var older = await Assert.ThrowsAsync<ServiceException>(() => Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(3, [])), CancellationToken.None));
        Assert.Equal("TpmCrlRollback", older.Code);
        Assert.Equal(records, await AuditCountAsync());

        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(6, [TestEkChain.EkSerial])), CancellationToken.None);
        var kept = Assert.Single(await Crls.ListAsync(CancellationToken.None));
        Assert.Equal(("06", Thumbprint(renewed)), (kept.CrlNumber, kept.IssuerThumbprint));
        Assert.Equal("EkCertificateRevoked", (await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("host"), CancellationToken.None))).Code);
    }

    [Fact]
    [Trait("Attack", "A106")]
    public async Task A_crl_row_changed_outside_openhgs_fails_closed_through_a_renewed_certificate_of_its_ca_too()
    {
        await using var enrollment = await EnrollmentAsync();
        await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [TestEkChain.EkSerial])), CancellationToken.None);
        using var renewed = _chain.RenewIntermediate();
        await enrollment.Service.AddRootAsync(renewed.ExportCertificatePem(), CancellationToken.None);
        await Db.ExecuteAsync("UPDATE tpm_crls SET crl_number = '99'");

        // Whichever certificate of the CA the chain is built through, the CA's CRL cannot be read: refused.
        var refused = await Assert.ThrowsAsync<ServiceException>(() => enrollment.Service.AddHostAsync(Request("host"), CancellationToken.None));
        Assert.Equal("EkCertificateCrlUnavailable", refused.Code);
    }

    [Fact]
    public async Task Removing_a_root_or_intermediate_removes_its_crl_with_a_record()
    {
        await using var enrollment = await EnrollmentAsync();
        var crl = await Crls.AddAsync(TestCrl.Pem(_chain.IntermediateCrl(1, [])), CancellationToken.None);
        await enrollment.Service.RemoveRootAsync(crl.IssuerThumbprint, CancellationToken.None);

        Assert.Empty(await Crls.ListAsync(CancellationToken.None));
        Assert.Empty(await CrlFindingsAsync());
        var removal = (await Database.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single();
        Assert.Equal((TpmCrlTable.SubjectPrefix + crl.IssuerThumbprint, true), (removal.Subject, removal.Details.Contains("\"removed\":\"true\"", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Concurrent_imports_of_one_issuers_crls_leave_the_newest_whatever_their_order()
    {
        // Each import compares itself with the stored CRL; without serializing them (the issuer's row locked), an older
        // CRL committed after a newer one would replace it — a rollback the rule is there to refuse.
        var crls = Enumerable.Range(1, 8).Select(n => TestCrl.Pem(_chain.IntermediateCrl(n, []))).Reverse().ToList();
        var outcomes = await Task.WhenAll(crls.Select(async crl =>
        {
            try
            {
                await Crls.AddAsync(crl, CancellationToken.None);
                return "imported";
            }
            catch (ServiceException refused)
            {
                return refused.Code;
            }
        }));

        Assert.All(outcomes, o => Assert.Contains(o, new[] { "imported", "TpmCrlRollback" }));
        Assert.Equal("08", Assert.Single(await Crls.ListAsync(CancellationToken.None)).CrlNumber);
        Assert.Empty(await CrlFindingsAsync());
    }

    [Fact]
    public async Task Migration_9_adds_an_empty_tpm_crls_table_to_a_schema_8_fabric()
    {
        using var old = another("tpm-crls-upgrade");
        using (var release8 = old.Open())
        {
            await release8.MigrateToAsync(SqlDialect.AdminRecordSealVersion, CancellationToken.None);
            Assert.Equal(SqlDialect.AdminRecordSealVersion, await release8.GetSchemaVersionAsync(CancellationToken.None));
        }

        // To 9 only (migration 10 is EkCertificateStorageTests'): tpm_crls read through this release's table.
        using var current = old.Open();
        await current.MigrateToAsync(SqlDialect.TpmCrlVersion, CancellationToken.None);
        Assert.Equal(SqlDialect.TpmCrlVersion, await current.GetSchemaVersionAsync(CancellationToken.None));
        var crls = await current.ReadAsync(s => s.TpmCrls.ListAsync(), CancellationToken.None);
        Assert.Empty(crls.Rows);
        Assert.Empty(crls.Rejected);
    }

    private AddTpmHostRequest Request(string name) =>
        new(name, new TpmIdentity(1, Convert.ToBase64String(_chain.Ek.ToBytes()), Convert.ToBase64String(_chain.EkCertificate)), AllowWithoutCertificate: false);

    /// <summary>What <c>hgs audit rows</c> reports about CRL rows (this database has no settings or policies: those are reported too).</summary>
    private async Task<List<RowIntegrityFinding>> CrlFindingsAsync() =>
        [.. (await new RowIntegrityCheck(Database).CheckAsync(CancellationToken.None)).Findings.Where(f => f.Table == "tpm_crls")];

    private X509Certificate2 RenewalSortingBefore(X509Certificate2 original)
    {
        while (true)
        {
            var renewed = _chain.RenewIntermediate();
            if (string.CompareOrdinal(Thumbprint(renewed), Thumbprint(original)) < 0)
            {
                return renewed;
            }

            renewed.Dispose();
        }
    }

    private static string Thumbprint(X509Certificate2 certificate) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificate.RawData));

    private async Task<long> AuditCountAsync() => Convert.ToInt64(await Db.ScalarAsync("SELECT COUNT(*) FROM audit_log"), System.Globalization.CultureInfo.InvariantCulture);

    private Task<Enrollment> EnrollmentAsync()
    {
        var writer = new AuditWriter(Database, _checkpoints.Checkpointer(Database), new AuditWriterOptions(), TimeProvider.System, NullLogger<AuditWriter>.Instance);
        return Task.FromResult(new Enrollment(new TpmEnrollmentService(Database, writer, new ActivationCredentials(Db.Rows.Authenticator, TimeProvider.System), TimeProvider.System, NullLogger<TpmEnrollmentService>.Instance), writer));
    }

    /// <summary>The enrolment service and the audit writer it was given (disposed with it).</summary>
    private sealed record Enrollment(TpmEnrollmentService Service, AuditWriter Writer) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Writer.DisposeAsync();
    }

    public void Dispose()
    {
        _chain.Dispose();
        _checkpoints.Dispose();
    }
}
