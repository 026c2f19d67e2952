using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// Append-only audit trail. <see cref="AppendAsync"/> must run inside the write transaction of the change it
/// describes: it locks the head row, so concurrent writers (on any node) extend one chain in order.
/// </summary>
public sealed class AuditTable
{
    private const string Columns = "seq, ts, event, outcome, subject, reason, details, prev_hash, hash";
    private readonly CommandFactory _db;
    private readonly SqlDialect _dialect;
    private readonly TimeProvider _time;

    internal AuditTable(CommandFactory db, SqlDialect dialect, TimeProvider time)
    {
        _db = db;
        _dialect = dialect;
        _time = time;
    }

    public async Task<AuditEntry> AppendAsync(AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        long sequence = headSequence + 1;
        // Millisecond precision is what is stored, so hash exactly that.
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        byte[] hash = AuditChain.ComputeHash(sequence, timestamp, e, headHash);
        await _db.ExecuteAsync(
            $"INSERT INTO audit_log ({Columns}) VALUES (@s, @ts, @ev, @o, @sub, @r, @d, @p, @h)",
            ("@s", sequence), ("@ts", CommandFactory.ToUnixMs(timestamp)), ("@ev", e.Event), ("@o", e.Outcome), ("@sub", e.Subject),
            ("@r", e.Reason), ("@d", e.Details), ("@p", headHash), ("@h", hash)).ConfigureAwait(false);
        await _db.ExecuteAsync("UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1", ("@s", sequence), ("@h", hash)).ConfigureAwait(false);
        return new AuditEntry(sequence, timestamp, e.Event, e.Outcome, e.Subject, e.Reason, e.Details, headHash, hash);
    }

    /// <summary>Records with sequence greater than <paramref name="after"/>, oldest first, at most <paramref name="limit"/>.</summary>
    public Task<List<AuditEntry>> ReadAsync(long after, int limit) =>
        _db.QueryAsync($"SELECT {Columns} FROM audit_log WHERE seq > @after ORDER BY seq LIMIT @limit", Map, ("@after", after), ("@limit", limit));

    /// <summary>The newest records, newest first.</summary>
    public Task<List<AuditEntry>> TailAsync(int limit) =>
        _db.QueryAsync($"SELECT {Columns} FROM audit_log ORDER BY seq DESC LIMIT @limit", Map, ("@limit", limit));

    /// <summary>Verifies the chain up to the head read at the start, streaming it in pages (constant memory, stops at the first break).</summary>
    public async Task<AuditVerification> VerifyAsync()
    {
        const int PageSize = 10_000;
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: false).ConfigureAwait(false);
        var verifier = new AuditChainVerifier();
        long after = 0;
        while (true)
        {
            var page = await ReadAsync(after, PageSize).ConfigureAwait(false);
            foreach (var entry in page)
            {
                // Records appended after the head was read belong to a later verification (a live service keeps writing).
                if (entry.Sequence > headSequence || !verifier.Add(entry))
                {
                    return verifier.Finish(headSequence, headHash);
                }
            }

            if (page.Count < PageSize)
            {
                return verifier.Finish(headSequence, headHash);
            }

            after = page[^1].Sequence;
        }
    }

    private async Task<(long Sequence, byte[] Hash)> ReadHeadAsync(bool lockRow)
    {
        var rows = await _db.QueryAsync(
            $"SELECT seq, hash FROM audit_head WHERE id = 1{(lockRow ? _dialect.ForUpdate : string.Empty)}",
            r => (r.GetInt64(0), (byte[])r.GetValue(1))).ConfigureAwait(false);
        return rows.Count == 1 ? rows[0] : throw new DatabaseUnavailableException("The audit head row is missing: the audit trail cannot be extended.");
    }

    private static AuditEntry Map(DbDataReader r) => new(
        r.GetInt64(0), CommandFactory.FromUnixMs(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4),
        r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6), (byte[])r.GetValue(7), (byte[])r.GetValue(8));
}
