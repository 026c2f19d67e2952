using OpenHgs.Service.Tests.Support;
using OpenHgs.Storage;

namespace OpenHgs.Service.Tests.Integrity;

public sealed class SqliteAdminRecordCollationTests() : AdminRecordCollationTests(TestDatabase.Sqlite("collation"));

public sealed class PostgresAdminRecordCollationTests() : AdminRecordCollationTests(TestDatabase.Postgres("collation"));

/// <summary>The same on a database created in an operator's language (ICU en-US), where ':' does not sort before ';'.</summary>
public sealed class PostgresIcuAdminRecordCollationTests() : AdminRecordCollationTests(TestDatabase.PostgresWithCollation("collation_icu", "en-US"))
{
    [Fact]
    public async Task The_database_really_sorts_text_otherwise_than_by_code_point() =>
        Assert.Equal(true, await Db.ScalarAsync("SELECT 'policy;' < 'policy:'"));
}

/// <summary>
/// The look-ups of records by subject prefix (policy states, baselines, TPM roots, the policy version) find them whatever
/// the database's collation: a range <c>subject &gt;= 'policy:' AND subject &lt; 'policy;'</c> found nothing under ICU
/// en-US, so every replay of those rows passed.
/// </summary>
public abstract class AdminRecordCollationTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    [Fact]
    public async Task Records_are_found_by_subject_prefix_and_only_those()
    {
        await Database.InTransactionAsync(async s =>
        {
            foreach (var (subject, details) in new[] { ("policy:Hgs_A", "{\"state\":\"enabled\"}"), ("policy;other", "{}"), ("Policy:Hgs_B", "{}"), ("baseline:b", "{}"), ("policy:Hgs_C", "{\"state\":\"staged\"}") })
            {
                await s.Audit.AppendAsync(new AuditEvent(AdminRecordEvents.SettingChanged, "success", subject, null, details));
            }

            return 0;
        }, CancellationToken.None);

        var (all, newest) = await Database.ReadAsync(async s => (
            await s.History.AllAsync(PolicyTable.PolicySubjectPrefix, AdminRecordEvents.SettingChanged),
            await s.History.NewestAsync(PolicyTable.PolicySubjectPrefix, AdminRecordEvents.SettingChanged)), CancellationToken.None);
        Assert.Equal(["policy:Hgs_C", "policy:Hgs_A"], all.Select(g => g.Key));
        Assert.Equal("policy:Hgs_C", newest?.Subject);
    }
}
