using System.Security.Cryptography;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class SqliteHostReplayTests() : HostReplayTests(TestDatabase.Sqlite("host-replay"));

public sealed class PostgresHostReplayTests() : HostReplayTests(TestDatabase.Postgres("host-replay"));

/// <summary>
/// Design change 64: a host row is used only while it is what the audit trail last said about its host. Whoever can
/// write the database can put back a removed host's row, MAC and all (from a backup, say); its MAC still verifies,
/// but the removal recorded after its registration refuses it.
/// </summary>
public abstract class HostReplayTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    private const string Columns = "name, mode, public_key, key_thumbprint, added_at, mac";
    private HostRegistry Hosts => new(Database, TimeProvider.System);

    [Fact]
    [Trait("Attack", "A94")]
    public async Task A_removed_host_put_back_with_its_old_row_is_refused_naming_the_removal()
    {
        var host = await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);
        await Db.ExecuteAsync($"CREATE TABLE saved_hosts AS SELECT {Columns} FROM hosts");
        await Hosts.RemoveAsync("host-a", CancellationToken.None);
        long removal = await NewestSequenceAsync(AuditEvents.HostRemoved);

        await Db.ExecuteAsync($"INSERT INTO hosts ({Columns}) SELECT {Columns} FROM saved_hosts");

        var byKey = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)));
        Assert.Equal(("hosts", "host-a", removal, false), (byKey.Table, byKey.Key, byKey.SupersededBy, byKey.IsMissing));
        var byName = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadAsync(s => s.Hosts.FindByNameAsync("host-a")));
        Assert.Equal(removal, byName.SupersededBy);
        Assert.Equal(
            $"The registration of host 'host-a' is an older copy put back outside OpenHGS (audit record {removal} removed or replaced it); it cannot attest until an admin removes it (and re-registers it, if it should attest).",
            RowIntegrityProblems.ToRefusal(byKey).Message);

        var listed = await ReadAsync(s => s.Hosts.ListAsync());
        Assert.Empty(listed.Rows);
        Assert.Equal([new RejectedRow("hosts", "host-a", removal)], listed.Rejected);
        var page = await ListAsync();
        Assert.Empty(page.Hosts);
        Assert.Equal([("hosts", "host-a", "superseded", (long?)removal)], page.Rejected.Select(r => (r.Table, r.Key, r.Problem, r.SupersededBy)));

        // Removing it again is the remedy, and the trail says the row it removed was not a usable one.
        await Hosts.RemoveAsync("host-a", CancellationToken.None);
        Assert.Null(await Db.ScalarAsync("SELECT name FROM hosts"));
        var again = (await ReadAsync(s => s.Audit.TailAsync(1))).Single();
        Assert.Equal((AuditEvents.HostRemoved, nameof(RowIntegrityProblems.HostRecordIntegrity)), (again.Event, again.Reason));
    }

    [Fact]
    public async Task A_host_reregistered_with_a_new_key_cannot_have_its_old_key_put_back()
    {
        var old = await Hosts.AddHostKeyAsync("host-b", NewPublicKeyPem(), CancellationToken.None);
        await Db.ExecuteAsync($"CREATE TABLE saved_hosts AS SELECT {Columns} FROM hosts");
        await Hosts.RemoveAsync("host-b", CancellationToken.None);
        long removal = await NewestSequenceAsync(AuditEvents.HostRemoved);
        var current = await Hosts.AddHostKeyAsync("host-b", NewPublicKeyPem(), CancellationToken.None);

        await Db.ExecuteAsync("DELETE FROM hosts");
        await Db.ExecuteAsync($"INSERT INTO hosts ({Columns}) SELECT {Columns} FROM saved_hosts");

        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() => ReadAsync(s => s.Hosts.FindByThumbprintAsync(old.KeyThumbprint)));
        Assert.Equal(removal, refused.SupersededBy);
        Assert.NotEqual(old.KeyThumbprint, current.KeyThumbprint);
    }

    [Fact]
    public async Task Current_rows_are_used_including_a_host_removed_and_registered_again_with_the_same_key()
    {
        string key = NewPublicKeyPem();
        var host = await Hosts.AddHostKeyAsync("host-c", key, CancellationToken.None);
        Assert.Equal("host-c", (await ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)))!.Name);

        await Hosts.RemoveAsync("host-c", CancellationToken.None);
        await Hosts.AddHostKeyAsync("host-c", key, CancellationToken.None);
        await Hosts.AddHostKeyAsync("host-d", NewPublicKeyPem(), CancellationToken.None);

        Assert.Equal("host-c", (await ReadAsync(s => s.Hosts.FindByThumbprintAsync(host.KeyThumbprint)))!.Name);
        Assert.Equal(["host-c", "host-d"], (await ListAsync()).Hosts.Select(h => h.Name));
    }

    [Fact]
    public async Task A_host_row_with_no_admin_record_about_it_is_used()
    {
        // Rows from before the audit trail named hosts carry no record; only a removal after a row refuses it.
        await Database.InTransactionAsync(async s =>
        {
            await s.Hosts.AddAsync(new HostRecord("host-e", "host-key", [1, 2, 3], "thumb-e", DateTimeOffset.UnixEpoch));
            return 0;
        }, CancellationToken.None);
        Assert.Equal("host-e", (await ReadAsync(s => s.Hosts.FindByThumbprintAsync("thumb-e")))!.Name);
    }

    [Fact]
    public async Task The_look_up_of_a_rows_history_uses_the_admin_subject_index()
    {
        string query = AdminRecordHistory.AboutQuery(2)
            .Replace("@s", "'host-a'", StringComparison.Ordinal)
            .Replace("@e0", $"'{AdminRecordEvents.HostAdded}'", StringComparison.Ordinal)
            .Replace("@e1", $"'{AdminRecordEvents.HostRemoved}'", StringComparison.Ordinal);
        Assert.Contains("audit_admin_subject", await Db.PlanAsync(query), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_read_that_finds_an_older_copy_is_asked_once_more_in_a_snapshot_whose_answer_stands()
    {
        // A row read, then a change committed, then the trail read: a current row looks superseded. The read is repeated
        // where row and trail are one commit; a genuine older copy is still refused there.
        int calls = 0;
        string answer = await Database.ReadAsync<string>(_ => ++calls == 1 ? throw RowIntegrityException.Superseded("hosts", "host-r", 7) : Task.FromResult("current"), CancellationToken.None);
        Assert.Equal(("current", 2), (answer, calls));

        calls = 0;
        var stands = await Assert.ThrowsAsync<RowIntegrityException>(() => Database.ReadAsync<string>(_ => { calls++; throw RowIntegrityException.Superseded("hosts", "host-r", 7); }, CancellationToken.None));
        Assert.Equal((7L, 2), (stands.SupersededBy, calls));
    }

    [Theory]
    [InlineData("")]
    [InlineData("policy:")]
    public async Task The_look_up_of_every_subjects_records_uses_the_admin_event_index_not_the_whole_trail(string prefix)
    {
        // Without migration 7 SQLite scanned every audit record for the key snapshot (every 5 s) and the lists.
        string query = AdminRecordHistory.AllQuery(prefix.Length, 2)
            .Replace("@e0", $"'{AdminRecordEvents.HostAdded}'", StringComparison.Ordinal)
            .Replace("@e1", $"'{AdminRecordEvents.HostRemoved}'", StringComparison.Ordinal)
            .Replace("@p", $"'{prefix}'", StringComparison.Ordinal);
        Assert.Contains("audit_admin_event", await Db.PlanAsync(query), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_attestation_key_found_with_its_host_is_judged_by_the_records_the_host_was_judged_by()
    {
        // A TPM attestation reads host and key together: the host's records, read once, decide both rows. The newest
        // activation names one key; a key row naming another (an older copy, MAC and all) is refused naming it.
        byte[] current = [1, 1, 1], older = [2, 2, 2];
        await Database.InTransactionAsync(async s =>
        {
            await s.Hosts.AddAsync(new HostRecord("host-t", "tpm", [5, 5, 5], "thumb-t", DateTimeOffset.UnixEpoch));
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-t", null, ("keyThumbprint", "thumb-t")));
            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord("host-t", current, DateTimeOffset.UnixEpoch));
            await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, "host-t", null,
                ("akName", "00"), ("akPublicSha256", TpmTable.AkPublicDigest(current))));
            return 0;
        }, CancellationToken.None);
        long activation = await NewestSequenceAsync(AuditEvents.HostAdded);

        var found = await ReadAsync(async s => (await s.Tpm.FindAttestationKeyAsync((await s.Hosts.FindCurrentByThumbprintAsync("thumb-t"))!))!);
        Assert.Equal(current, found.AkPublic);

        await Database.InTransactionAsync(async s =>
        {
            await s.Tpm.SetAttestationKeyAsync(new AttestationKeyRecord("host-t", older, DateTimeOffset.UnixEpoch));
            return 0;
        }, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<RowIntegrityException>(() =>
            ReadAsync(async s => await s.Tpm.FindAttestationKeyAsync((await s.Hosts.FindCurrentByThumbprintAsync("thumb-t"))!)));
        Assert.Equal(("tpm_attestation_keys", "host-t", (long?)activation), (refused.Table, refused.Key, refused.SupersededBy));
    }

    private Task<OpenHgs.Protocol.Wire.HostPage> ListAsync() => Hosts.ListPageAsync(new HostPageQuery(HostPageQuery.MaxLimit, null, null), CancellationToken.None);

    private Task<T> ReadAsync<T>(Func<HgsSession, Task<T>> read) => Database.ReadAsync(read, CancellationToken.None);

    private async Task<long> NewestSequenceAsync(string auditEvent) =>
        (await ReadAsync(s => s.Audit.TailAsync(1))).Single(e => e.Event == auditEvent).Sequence;

    private static string NewPublicKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }
}
