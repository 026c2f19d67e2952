using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Keys;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Service.Tests.Keys;

/// <summary>
/// Design change 79 at run time: a fabric key a custody check finds critical is left out of the key snapshot (so
/// attestation and key release cannot use it) in production, until a check finds it clean or an admin accepted the finding.
/// </summary>
public sealed class KeyCustodyGateTests : IAsyncLifetime
{
    private static readonly TokenKeyAttributes Generated = new(Token: true, Private: true, Sensitive: true, AlwaysSensitive: true, Extractable: false,
        NeverExtractable: true, Local: true, Modifiable: false, KeyOperations.Sign);

    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-custody-gate-").FullName;
    private IKeyStore _store = null!;
    private SqliteDatabase _database = null!;

    public async Task InitializeAsync()
    {
        _store = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(_directory, Production: false));
        _database = new SqliteDatabase(Path.Combine(_directory, "hgs.db"), TimeProvider.System, new KeyStoreRowAuthenticator(_store));
        await KeyStoreRowAuthenticator.EnsureKeyAsync(_store, _database, CancellationToken.None);
        await _database.MigrateAsync(CancellationToken.None);
        await Keys(KeyCustodyGate.ReportOnly).InitializeAsync(CancellationToken.None);
    }

    public Task DisposeAsync()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_signer_found_extractable_is_not_used_until_a_check_finds_it_clean()
    {
        var gate = new KeyCustodyGate(enforced: true, []);
        var keys = Keys(gate);
        var signer = (await keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner);   // cached before the check

        var checkedOnce = gate.Apply([Entry(signer.Record.Label, Generated with { Extractable = true })]);
        Assert.True(checkedOnce.Single().Blocked);
        Assert.True(gate.Blocks(signer.Record.Label));
        var snapshot = await keys.GetSnapshotAsync(CancellationToken.None);
        Assert.Equal(new RejectedFabricKey(signer.Record.Id, FabricKeyRejection.CustodyFailed), Assert.Single(snapshot.Rejected));
        Assert.Equal("NoPrimaryKey", Assert.Throws<ServiceException>(() => snapshot.Primary(FabricKeyRole.AttestationSigner)).Code);
        Assert.NotNull(snapshot.Primary(FabricKeyRole.Encryption));   // the other keys serve on

        gate.Apply([Entry(signer.Record.Label, Generated)]);
        Assert.False(gate.Blocks(signer.Record.Label));
        Assert.Equal(signer.Record.Id, (await keys.GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner).Record.Id);
    }

    [Fact]
    public async Task An_accepted_finding_is_marked_and_blocks_nothing_and_accepts_no_other_finding()
    {
        var signer = (await Keys(KeyCustodyGate.ReportOnly).GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner).Record.Label;
        var gate = new KeyCustodyGate(enforced: true, [new KeyCustodyAcceptance(signer, KeyCustodyFindingCode.Extractable)]);

        var entry = gate.Apply([Entry(signer, Generated with { Extractable = true })]).Single();
        Assert.False(entry.Blocked);
        Assert.True(entry.Findings.Single(f => f.Code == KeyCustodyFindingCode.Extractable).Accepted);
        Assert.Empty((await Keys(gate).GetSnapshotAsync(CancellationToken.None)).Rejected);

        var worse = gate.Apply([Entry(signer, Generated with { Extractable = true, Sensitive = false })]).Single();
        Assert.True(worse.Blocked);
        Assert.False(worse.Findings.Single(f => f.Code == KeyCustodyFindingCode.NotSensitive).Accepted);
        Assert.True(gate.Blocks(signer));
    }

    [Fact]
    public async Task Outside_production_findings_are_reported_and_no_key_is_held_back()
    {
        var signer = (await Keys(KeyCustodyGate.ReportOnly).GetSnapshotAsync(CancellationToken.None)).Primary(FabricKeyRole.AttestationSigner).Record.Label;
        var gate = new KeyCustodyGate(enforced: false, []);
        Assert.True(gate.Apply([Entry(signer, Generated with { Sensitive = false })]).Single().Blocked);
        Assert.False(gate.Blocks(signer));
        Assert.Empty((await Keys(gate).GetSnapshotAsync(CancellationToken.None)).Rejected);
    }

    [Theory]
    [InlineData(KeyCustodyFindingCode.KeyMissing)]
    [InlineData(KeyCustodyFindingCode.HolderUnavailable)]
    [InlineData(KeyCustodyFindingCode.Modifiable)]
    [InlineData(KeyCustodyFindingCode.SoftwareKeyStore)]
    public void Findings_that_say_nothing_about_a_used_copy_leaving_its_store_are_not_critical(KeyCustodyFindingCode code) =>
        Assert.False(KeyCustodyRules.IsCritical(code));

    [Fact]
    public void An_acceptance_names_one_key_and_one_critical_finding()
    {
        Assert.Equal(new KeyCustodyAcceptance("openhgs-att-1:2", KeyCustodyFindingCode.DuplicateObjects), KeyCustodyAcceptance.Parse("openhgs-att-1:2:DuplicateObjects"));
        foreach (string text in new[] { "openhgs-att-1:Modifiable", "openhgs-att-1:HolderUnavailable", "openhgs-att-1:0", "openhgs-att-1:extractable", ":Extractable", "Extractable" })
        {
            Assert.Contains("is not LABEL:CODE with CODE a critical custody finding", Assert.Throws<FormatException>(() => KeyCustodyAcceptance.Parse(text)).Message, StringComparison.Ordinal);
        }
    }

    private FabricKeyManager Keys(KeyCustodyGate gate) => new(_store, _database, TimeProvider.System, NullLogger<FabricKeyManager>.Instance, custody: gate);

    private static KeyCustodyEntry Entry(string label, TokenKeyAttributes attributes)
    {
        KeyCustody[] custody = [new(label, "pkcs11 token 'test'", KeyCustodyKind.Token, attributes)];
        return new KeyCustodyEntry(label, "attestation-signer", null, KeyPurpose.Signing, custody, KeyCustodyRules.Judge(custody, KeyPurpose.Signing));
    }
}
