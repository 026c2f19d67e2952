using System.Data.Common;
using OpenHgs.Storage;

namespace OpenHgs.Bench;

/// <summary>
/// Verifies the whole audit chain with <see cref="AuditChain.Verify"/>, streaming the rows (what <c>hgs audit
/// verify</c> checks, without holding a million records in memory).
/// </summary>
public static class AuditChainCheck
{
    public static async Task<AuditVerification> VerifyAsync(BenchDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        long headSequence;
        byte[] headHash;
        await using (var head = connection.CreateCommand())
        {
            head.CommandText = "SELECT seq, hash FROM audit_head WHERE id = 1";
            await using var reader = await head.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("the audit head row is missing");
            }

            headSequence = reader.GetInt64(0);
            headHash = (byte[])reader.GetValue(1);
        }

        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, ts, event, outcome, subject, reason, details, prev_hash, hash FROM audit_log ORDER BY seq";
        command.CommandTimeout = 600;
        await using var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return AuditChain.Verify(Read(rows), headSequence, headHash);
    }

    private static IEnumerable<AuditEntry> Read(DbDataReader r)
    {
        while (r.Read())
        {
            yield return new AuditEntry(
                r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4),
                r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6), (byte[])r.GetValue(7), (byte[])r.GetValue(8));
        }
    }
}
