using System.Security.Cryptography;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Integrity;

public sealed class SqliteAdminRecordSealTests() : AdminRecordSealTests(TestDatabase.Sqlite("record-seal"), TestDatabase.Sqlite);

public sealed class PostgresAdminRecordSealTests() : AdminRecordSealTests(TestDatabase.Postgres("record-seal"), TestDatabase.Postgres);

/// <summary>
/// Design change 67: admin records are sealed with the row-MAC key, so whoever can write the database cannot append a
/// record a row's history believes — the forgery design change 64 left open (put a removed host's row back and append an
/// <c>admin.hosts.add</c> naming it).
/// </summary>
public abstract class AdminRecordSealTests(TestDatabase db, Func<string, TestDatabase> another) : MigratedDatabaseTests(db)
{
    private const string Columns = "name, mode, public_key, key_thumbprint, added_at, mac";
    private HostRegistry Hosts => new(Database, TimeProvider.System);

    [Fact]
    public async Task Admin_records_are_sealed_from_a_marker_on_and_other_records_are_not()
    {
        await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        await Hosts.AddHostKeyAsync("host-b", NewPublicKeyPem(), CancellationToken.None);
        await Database.InTransactionAsync(s => s.Audit.AppendAsync(AuditRecord.Create("attestation.attest", AuditOutcomes.Refused, "host-a", "NonceExpired")), CancellationToken.None);
        await Database.InTransactionAsync(s => s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostRemoved, AuditOutcomes.Refused, "host-x", "HostUnknown")), CancellationToken.None);

        var records = await ReadAsync(s => s.Audit.ReadAsync(0, 100));
        Assert.Equal([AdminRecordSeal.MarkerEvent, AuditEvents.HostAdded, AuditEvents.HostAdded, "attestation.attest", AuditEvents.HostRemoved], records.Select(r => r.Event));
        long marker = records[0].Sequence;
        Assert.Equal([marker, marker, marker, null, null], records.Select(r => AdminRecordSeal.Unseal(r.Details)?.SealedFrom));
        Assert.Equal(marker, await ReadAsync(s => s.History.SealedFromAsync()));
        Assert.Empty(await ReadAsync(s => s.History.UnbelievedAsync()));
        // The seal is in the details, which the chain hashes: the trail still verifies.
        Assert.True((await ReadAsync(s => s.Audit.VerifyAsync())).Valid);
    }

    [Fact]
    [Trait("Attack", "A103")]
    public async Task A_removed_hosts_row_put_back_with_a_forged_record_naming_it_is_still_refused_naming_the_removal()
    {
        var host = await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        await Db.ExecuteAsync($"CREATE TABLE saved_hosts AS SELECT {Columns} FROM hosts");
        var genuineAdd = (await ReadAsync(s => s.Audit.TailAsync(1))).Single();
        await Hosts.RemoveAsync("host-a", CancellationToken.None);
        long removal = (await ReadAsync(s => s.Audit.TailAsync(1))).Single().Sequence;

        // The row put back, and two records that would make it current: a new one without a seal, and the genuine
        // registration's details, seal and all, at a new sequence.
        await Db.ExecuteAsync($"INSERT INTO hosts ({Columns}) SELECT {Columns} FROM saved_hosts");
        await Db.DropSealGuardAsync();
        long unsealed = await Db.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-a", null,
            ("keyThumbprint", host.KeyThumbprint), ("mode", "host-key")));
        long copied = await Db.AppendOutsideAsync(new AuditEvent(genuineAdd.Event, genuineAdd.Outcome, genuineAdd.Subject, genuineAdd.Reason, genuineAdd.Details));

        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)));
        Assert.Equal(("hosts", "host-a", removal), (refused.Table, refused.Key, refused.SupersededBy));
        Assert.Equal([unsealed, copied], (await ReadAsync(s => s.History.UnbelievedAsync())).Select(r => r.Sequence));

        // (This bare database has no explicit settings or policy rows either; the report names those too.)
        var report = await new RowIntegrityCheck(Database).CheckAsync(CancellationToken.None);
        var findings = report.Findings.Where(f => f.Table is "hosts" or "audit_log").ToList();
        Assert.False(report.Valid);
        Assert.Equal(
            [("hosts", "host-a", "superseded"), ("audit_log", $"{unsealed}", RowIntegrityCheck.ForgedRecord), ("audit_log", $"{copied}", RowIntegrityCheck.ForgedRecord)],
            findings.Select(f => (f.Table, f.Key, f.Problem)));
        Assert.Equal(
            $"The admin record {unsealed} ({AuditEvents.HostAdded} about 'host-a') has no valid seal: it was written or changed outside OpenHGS, and no row's history believes it.",
            findings[1].Message);
    }

    [Theory]
    [InlineData("subject = 'host-z'")]
    [InlineData("outcome = 'success', reason = 'x'")]
    [InlineData("ts = ts + 1")]
    [InlineData("details = replace(details, 'host-key', 'tpm')")]
    public async Task A_sealed_record_changed_in_place_is_not_believed(string change)
    {
        // Changing a record in place breaks the chain too (hgs audit verify names it); the seal makes every read see it at once.
        await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        long added = (await ReadAsync(s => s.Audit.TailAsync(1))).Single().Sequence;
        await Db.ExecuteAsync($"UPDATE audit_log SET {change} WHERE seq = {added}");

        Assert.Equal([added], (await ReadAsync(s => s.History.UnbelievedAsync())).Select(r => r.Sequence));
        Assert.Empty(await ReadAsync(s => s.History.AboutAsync("host-a", AuditEvents.HostAdded)));
        Assert.Empty(await ReadAsync(s => s.History.AboutAsync("host-z", AuditEvents.HostAdded)));
    }

    [Fact]
    public async Task A_forged_marker_does_not_move_where_sealing_starts()
    {
        await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        long marker = (await ReadAsync(s => s.History.SealedFromAsync()))!.Value;
        await Db.DropSealGuardAsync();
        long forged = await Db.AppendOutsideAsync(new AuditEvent(AdminRecordSeal.MarkerEvent, AuditOutcomes.Success, AdminRecordSeal.MarkerSubject, null, "{}"));

        Assert.Equal(marker, await ReadAsync(s => s.History.SealedFromAsync()));
        Assert.Equal([forged], (await ReadAsync(s => s.History.UnbelievedAsync())).Select(r => r.Sequence));
    }

    [Fact]
    public async Task An_upgraded_trail_believes_its_own_records_and_no_unsealed_one_after_the_upgrade()
    {
        // A fabric a release before sealing wrote (schema 7): a host registered and removed, its records unsealed.
        using var old = await Release7FabricAsync("record-seal-upgrade");
        using var current = old.Open();
        var registry = new HostRegistry(current, TimeProvider.System);
        string thumbprint = "thumb-old";
        await AddAsRelease7Async(old, "host-old", [1, 2, 3], thumbprint);
        await old.ExecuteAsync($"CREATE TABLE saved_hosts AS SELECT {Columns} FROM hosts");
        await old.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-old", null, ("keyThumbprint", thumbprint), ("mode", "host-key")));
        await old.ExecuteAsync("DELETE FROM hosts");
        long removal = await old.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostRemoved, AuditOutcomes.Success, "host-old", null, ("keyThumbprint", thumbprint), ("mode", "host-key")));
        await AddAsRelease7Async(old, "host-kept", [4, 5, 6], "thumb-kept");
        await old.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-kept", null, ("keyThumbprint", "thumb-kept"), ("mode", "host-key")));
        long lastLegacy = (await current.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single().Sequence;

        await current.MigrateAsync(CancellationToken.None);
        long marker = (await current.ReadAsync(s => s.History.SealedFromAsync(), CancellationToken.None))!.Value;
        Assert.Equal(lastLegacy + 1, marker);
        Assert.Equal(SqlDialect.CurrentVersion, await current.GetSchemaVersionAsync(CancellationToken.None));

        // The old row put back, with an unsealed record naming it, as the old release wrote them: after the marker, not believed.
        await old.ExecuteAsync($"INSERT INTO hosts ({Columns}) SELECT {Columns} FROM saved_hosts");
        await old.DropSealGuardAsync();
        long forged = await old.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-old", null, ("keyThumbprint", thumbprint), ("mode", "host-key")));
        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() => current.ReadAsync(s => s.Hosts.FindByThumbprintAsync(thumbprint), CancellationToken.None));
        Assert.Equal(removal, refused.SupersededBy);
        Assert.Equal([forged], (await current.ReadAsync(s => s.History.UnbelievedAsync(), CancellationToken.None)).Select(r => r.Sequence));

        // The next admin change is sealed from the same marker; migrating again adds no second one.
        await registry.RemoveAsync("host-old", CancellationToken.None);
        await current.MigrateAsync(CancellationToken.None);
        var tail = (await current.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single();
        Assert.Equal((AuditEvents.HostRemoved, marker), (tail.Event, AdminRecordSeal.Unseal(tail.Details)?.SealedFrom));
        Assert.Single(await current.ReadAsync(s => s.Audit.QueryAsync(new AuditQuery(null, null, AdminRecordSeal.MarkerEvent, null, 10)), CancellationToken.None));
        Assert.Equal("host-kept", (await current.ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-kept"), CancellationToken.None))!.Name);

        // The marker changed in place (the chain breaks; hgs audit verify names it): the sealed removal after it still
        // says where sealing starts, so the host from before the upgrade reads, the forged record is still not believed,
        // and admin changes go on, sealed from the same point.
        await old.ExecuteAsync($"UPDATE audit_log SET subject = 'elsewhere' WHERE seq = {marker}");
        Assert.Equal(marker, await current.ReadAsync(s => s.History.SealedFromAsync(), CancellationToken.None));
        Assert.Equal("host-kept", (await current.ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-kept"), CancellationToken.None))!.Name);
        Assert.Equal([marker, forged], (await current.ReadAsync(s => s.History.UnbelievedAsync(), CancellationToken.None)).Select(r => r.Sequence));
        await registry.RemoveAsync("host-kept", CancellationToken.None);
        var removed = (await current.ReadAsync(s => s.Audit.TailAsync(1), CancellationToken.None)).Single();
        Assert.Equal(marker, AdminRecordSeal.Unseal(removed.Details)?.SealedFrom);
    }

    [Fact]
    public async Task A_marker_cut_off_the_trail_does_not_move_where_sealing_starts()
    {
        // Deleting the marker breaks the chain (hgs audit verify names it); every sealed record still says where sealing
        // starts, so a record forged after that is still not believed.
        var host = await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        await Db.ExecuteAsync($"CREATE TABLE saved_hosts AS SELECT {Columns} FROM hosts");
        await Hosts.RemoveAsync("host-a", CancellationToken.None);
        long removal = (await ReadAsync(s => s.Audit.TailAsync(1))).Single().Sequence;
        long marker = (await ReadAsync(s => s.History.SealedFromAsync()))!.Value;

        await Db.ExecuteAsync($"DELETE FROM audit_log WHERE seq = {marker}");
        // Rows below sequence 1, which no chain walk reads, claiming seals ahead of the genuine ones: never asked.
        for (int seq = -16; seq <= 0; seq++)
        {
            await Db.ExecuteAsync("INSERT INTO audit_log (seq, ts, event, outcome, subject, details, prev_hash, hash) VALUES (@s, 0, 'admin.zzz', 'success', 'x', @d, @h, @h)",
                ("@s", (long)seq), ("@d", "{\"sealedFrom\":\"999\",\"recordMac\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}"), ("@h", new byte[32]));
        }

        await Db.DropSealGuardAsync();
        await Db.ExecuteAsync($"INSERT INTO hosts ({Columns}) SELECT {Columns} FROM saved_hosts");
        await Db.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-a", null, ("keyThumbprint", host.KeyThumbprint), ("mode", "host-key")));

        Assert.Equal(marker, await ReadAsync(s => s.History.SealedFromAsync()));
        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)));
        Assert.Equal(removal, refused.SupersededBy);
    }

    [Fact]
    public async Task A_node_of_the_previous_release_cannot_write_an_admin_record_after_the_marker_so_its_change_fails_whole()
    {
        // docs/deploy.md: nodes are upgraded one at a time, so a node of the previous release (no seals) keeps serving
        // after the first upgraded node appended the marker. Were its unsealed removal of a host committed, upgraded
        // nodes would not believe it, and the removed host's row put back with SQL (A94) would be current again. The
        // guard of migration 8 refuses the record, so that node's change fails and rolls back: nothing is removed.
        var host = await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        long head = (await ReadAsync(s => s.Audit.TailAsync(1))).Single().Sequence;

        var refused = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => Db.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostRemoved,
            AuditOutcomes.Success, "host-a", null, ("keyThumbprint", host.KeyThumbprint), ("mode", "host-key"))));
        Assert.Contains(SqlDialect.SealedAdminRecordsRefusal, refused.Message, StringComparison.Ordinal);
        Assert.Equal(head, (await ReadAsync(s => s.Audit.TailAsync(1))).Single().Sequence);
        Assert.Equal("host-a", (await ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)))!.Name);

        // Refusals and other records of that node still go in, and so does what a restore inserts before the marker.
        await Db.AppendOutsideAsync(AuditRecord.Create(AuditEvents.HostRemoved, AuditOutcomes.Refused, "host-x", "HostUnknown"));
        await Db.AppendOutsideAsync(AuditRecord.Create("attestation.attest", AuditOutcomes.Success, "host-a", null));
        Assert.True((await ReadAsync(s => s.Audit.VerifyAsync())).Valid);
    }

    [Fact]
    public async Task The_row_report_names_a_marker_changed_in_place_before_any_sealed_record_instead_of_failing()
    {
        // Just after the upgrade the marker is the trail's only sealed record. Changed in place, it breaks the chain (hgs
        // audit verify names it); the row report, which the start check logs as event 2023, must still run and name it.
        using var old = await Release7FabricAsync("record-seal-report");
        using var current = old.Open();
        await current.MigrateAsync(CancellationToken.None);
        long marker = (await current.ReadAsync(s => s.History.SealedFromAsync(), CancellationToken.None))!.Value;
        await old.ExecuteAsync($"UPDATE audit_log SET subject = 'elsewhere' WHERE seq = {marker}");

        var report = await new RowIntegrityCheck(current).CheckAsync(CancellationToken.None);
        Assert.Contains(report.Findings, f => (f.Table, f.Key, f.Problem) == ("audit_log", $"{marker}", RowIntegrityCheck.ForgedRecord));

        // No other seal says where sealing starts, so what depends on it fails closed, naming the marker.
        var unknown = await Assert.ThrowsAsync<RowIntegrityException>(() => current.ReadAsync(s => s.History.SealedFromAsync(), CancellationToken.None));
        Assert.Equal(("audit_log", $"{marker}"), (unknown.Table, unknown.Key));
    }

    private Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> read) => Database.ReadAsync(read, CancellationToken.None);

    /// <summary>A host-key host row as a release-7 node wrote it: the columns of its schema, MACed over them (what this release's row MAC is for a row with no EK columns).</summary>
    private static Task AddAsRelease7Async(TestDatabase old, string name, byte[] key, string thumbprint) =>
        old.ExecuteAsync($"INSERT INTO hosts ({Columns}) VALUES (@n, 'host-key', @k, @t, 0, @m)", ("@n", name), ("@k", key), ("@t", thumbprint),
            ("@m", old.Rows.Authenticator.Compute(RowMac.Encode("hosts", name, ["host-key", key, thumbprint, 0L]))));

    /// <summary>A database of its own at schema 7 (a release before sealing), with the unsealed record its init wrote.</summary>
    private async Task<TestDatabase> Release7FabricAsync(string prefix)
    {
        var old = another(prefix);
        using (var release7 = old.Open())
        {
            await release7.MigrateToAsync(SqlDialect.AdminEventIndexVersion, CancellationToken.None);
        }

        await old.AppendOutsideAsync(new AuditEvent("admin.server.init", AuditOutcomes.Success, "fabric", null, "{}"));
        return old;
    }

    private static string NewPublicKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }
}

/// <summary>Each seal has one stored form (review of design change 67): nothing else parses as a seal.</summary>
public sealed class AdminRecordSealFormTests
{
    private const string Mac = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    [Theory]
    [InlineData("{\"mode\":\"x\",\"sealedFrom\":\"7\",\"recordMac\":\"" + Mac + "\"}", "{\"mode\":\"x\"}")]
    [InlineData("{\"sealedFrom\":\"7\",\"recordMac\":\"" + Mac + "\"}", "{}")]
    public void A_seal_at_the_end_of_the_details_gives_back_the_details_it_was_made_over(string stored, string original)
    {
        var (details, sealedFrom, mac) = AdminRecordSeal.Unseal(stored)!.Value;
        Assert.Equal((original, 7L, Mac), (details, sealedFrom, Convert.ToBase64String(mac)));
    }

    [Theory]
    [InlineData("{\"mode\":\"x\",\"sealedFrom\":\"7\",\"recordMac\":\"" + Mac + "\"}\n")]                                     // something after the object
    [InlineData("{,\"sealedFrom\":\"7\",\"recordMac\":\"" + Mac + "\"}")]                                                       // a comma after no field
    [InlineData("{\"sealedFrom\":\"7\",\"recordMac\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\"}")]                       // stray low bits in the base64
    [InlineData("{\"sealedFrom\":\"-7\",\"recordMac\":\"" + Mac + "\"}")]
    [InlineData("{\"sealedFrom\":\"07\",\"recordMac\":\"" + Mac + "\"}")]                                                // a leading zero
    [InlineData("{\"mode\":\"x\"}")]
    public void Anything_else_is_no_seal(string stored) => Assert.Null(AdminRecordSeal.Unseal(stored));
}
