using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// Append-only audit trail. <see cref="AppendAsync"/> must run inside the write transaction of the change it
/// describes: it locks the head row, so concurrent writers (on any node) extend one chain in order.
/// </summary>
/// <remarks>
/// Successful admin records are sealed with the row-MAC key (<see cref="AdminRecordSeal"/>, design change 67); the first
/// one a trail gets is preceded by the marker from which every such record is sealed.
/// </remarks>
public sealed class AuditTable
{
    private const string Columns = "seq, ts, event, outcome, subject, reason, details, prev_hash, hash";
    private const string CheckpointColumns = "seq, hash, signed_at, key_id, signature";
    private readonly CommandFactory _db;
    private readonly SqlDialect _dialect;
    private readonly TimeProvider _time;
    private readonly AdminRecordSeal _seal;
    private readonly AdminRecordHistory _history;

    internal AuditTable(CommandFactory db, SqlDialect dialect, TimeProvider time, AdminRecordSeal seal, AdminRecordHistory history)
    {
        _db = db;
        _dialect = dialect;
        _time = time;
        _seal = seal;
        _history = history;
    }

    public async Task<AuditEntry> AppendAsync(AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        if (!AdminRecordSeal.Applies(e.Event, e.Outcome))
        {
            return await InsertAsync(headSequence, headHash, e, sealedFrom: null).ConfigureAwait(false);
        }

        var (sealedFrom, sequence, hash) = await SealedPartAsync(headSequence, headHash).ConfigureAwait(false);
        return await InsertAsync(sequence, hash, e, sealedFrom).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends the marker from which admin records are sealed, unless the trail has one: the upgrade of a trail older
    /// releases wrote (migration <see cref="SqlDialect.AdminRecordSealVersion"/>), so that no unsealed admin record
    /// appended after it is believed, even before the first admin change.
    /// </summary>
    internal async Task SealFromHereAsync()
    {
        // The head locked first, as AppendAsync does, so no other writer can add the marker between look-up and insert.
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: true).ConfigureAwait(false);
        await SealedPartAsync(headSequence, headHash).ConfigureAwait(false);
    }

    /// <summary>
    /// Where the trail's sealed part starts, appending its marker first when it has none (the head must be locked); and
    /// the head after that.
    /// </summary>
    private async Task<(long SealedFrom, long HeadSequence, byte[] HeadHash)> SealedPartAsync(long headSequence, byte[] headHash)
    {
        if (await _history.SealedFromAsync().ConfigureAwait(false) is { } sealedFrom)
        {
            return (sealedFrom, headSequence, headHash);
        }

        var marker = await InsertAsync(headSequence, headHash,
            new AuditEvent(AdminRecordSeal.MarkerEvent, "success", AdminRecordSeal.MarkerSubject, null, "{}"), sealedFrom: headSequence + 1).ConfigureAwait(false);
        return (marker.Sequence, marker.Sequence, marker.Hash);
    }

    /// <summary>Appends the record after the head (sealing it from <paramref name="sealedFrom"/> on when given) and moves the head.</summary>
    private async Task<AuditEntry> InsertAsync(long headSequence, byte[] headHash, AuditEvent e, long? sealedFrom)
    {
        long sequence = headSequence + 1;
        // Millisecond precision is what is stored, so hash exactly that.
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());
        if (sealedFrom is { } from)
        {
            e = e with { Details = _seal.Seal(sequence, timestamp.ToUnixTimeMilliseconds(), e, headHash, from) };
        }

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
    public Task<List<AuditEntry>> TailAsync(int limit) => QueryAsync(new AuditQuery(null, null, null, null, limit));

    /// <summary>
    /// Records matching <paramref name="query"/>: with <see cref="AuditQuery.AfterSequence"/> the oldest first (a
    /// follower reading on), else the newest first. Values are bound as parameters, never spliced into the SQL.
    /// </summary>
    public Task<List<AuditEntry>> QueryAsync(AuditQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var where = new List<string>();
        var parameters = new List<(string, object?)> { ("@limit", query.Limit) };
        if (query.AfterSequence is { } after)
        {
            where.Add("seq > @after");
            parameters.Add(("@after", after));
        }

        if (query.Since is { } since)
        {
            where.Add("ts >= @since");
            parameters.Add(("@since", CommandFactory.ToUnixMs(since)));
        }

        if (query.Event is { } ev)
        {
            if (ev.EndsWith('*'))
            {
                // A prefix: LIKE with the prefix's own wildcards escaped.
                where.Add("event LIKE @event ESCAPE '\\'");
                parameters.Add(("@event", ev[..^1].Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%"));
            }
            else
            {
                where.Add("event = @event");
                parameters.Add(("@event", ev));
            }
        }

        if (query.Subject is { } subject)
        {
            where.Add("subject = @subject");
            parameters.Add(("@subject", subject));
        }

        if (query.Outcomes is { Count: > 0 } outcomes)
        {
            var names = outcomes.Select((_, i) => "@outcome" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            where.Add($"outcome IN ({string.Join(", ", names)})");
            parameters.AddRange(outcomes.Select((o, i) => (names[i], (object?)o)));
        }

        string filter = where.Count == 0 ? string.Empty : " WHERE " + string.Join(" AND ", where);
        string order = query.AfterSequence is null ? "DESC" : "ASC";
        return _db.QueryAsync($"SELECT {Columns} FROM audit_log{filter} ORDER BY seq {order} LIMIT @limit", Map, [.. parameters]);
    }

    /// <summary>
    /// The newest record of <paramref name="auditEvent"/> for each subject (e.g. every host's last attestation verdict),
    /// the most recent subjects first, at most <paramref name="limit"/>.
    /// </summary>
    public Task<List<AuditEntry>> LatestPerSubjectAsync(string auditEvent, int limit)
    {
        ArgumentException.ThrowIfNullOrEmpty(auditEvent);
        return _db.QueryAsync(
            $"SELECT {Columns} FROM audit_log WHERE seq IN (SELECT MAX(seq) FROM audit_log WHERE event = @event GROUP BY subject) ORDER BY seq DESC LIMIT @limit",
            Map, ("@event", auditEvent), ("@limit", limit));
    }

    /// <summary>The event of an attestation's record (the service's <c>AuditEvents.Attestation</c>), named here for the index on it.</summary>
    public const string AttestationEvent = "attestation.attest";

    /// <summary>
    /// The newest attestation record about each of <paramref name="subjects"/> that has one (a page of hosts' last
    /// verdicts, design change 89): bounded by the names asked, not by how many other subjects attested since. One query,
    /// the subjects compared with <c>IN</c> as <see cref="AdminRecordHistory.AboutEachAsync"/> does; the event is written
    /// as a literal so both databases answer it from the partial index of migration
    /// <see cref="SqlDialect.AttestationSubjectIndexVersion"/> (a parameter would not prove the index's predicate).
    /// </summary>
    public Task<List<AuditEntry>> LatestAttestationOfEachAsync(IReadOnlyList<string> subjects)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        if (subjects.Count == 0)
        {
            return Task.FromResult(new List<AuditEntry>());
        }

        return _db.QueryAsync(
            LatestAttestationOfEachQuery(subjects.Count),
            Map, [.. subjects.Select((s, i) => ("@s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), (object?)s))]);
    }

    /// <summary>The query of <see cref="LatestAttestationOfEachAsync"/> for <paramref name="count"/> subjects (<c>@s0</c>…), public for the plan test.</summary>
    public static string LatestAttestationOfEachQuery(int count)
    {
        string names = string.Join(", ", Enumerable.Range(0, count).Select(i => "@s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return $"SELECT {Columns} FROM audit_log WHERE seq IN (SELECT MAX(seq) FROM audit_log WHERE event = '{AttestationEvent}' AND subject IN ({names}) GROUP BY subject) ORDER BY seq DESC";
    }

    /// <summary>Verifies the chain up to the head read at the start, streaming it in pages (constant memory, stops at the first break).</summary>
    public async Task<AuditVerification> VerifyAsync()
    {
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: false).ConfigureAwait(false);
        var verifier = new AuditChainVerifier();
        await WalkAsync(0, headSequence, verifier.Add).ConfigureAwait(false);
        return verifier.Finish(headSequence, headHash);
    }

    /// <summary>
    /// Verifies the chain and checks it against every checkpoint: the rows (each signature checked by
    /// <paramref name="policy"/>) and the checkpoints trusted from outside. The rows are read before the head, so a
    /// checkpoint made meanwhile never names a record beyond the head that is then read.
    /// </summary>
    public async Task<AuditTrailReport> VerifyAsync(AuditCheckpointPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var checkpoints = await _db.QueryAsync($"SELECT {CheckpointColumns} FROM audit_checkpoints ORDER BY seq", MapCheckpoint).ConfigureAwait(false);
        var (headSequence, headHash) = await ReadHeadAsync(lockRow: false).ConfigureAwait(false);
        var verifier = new AuditTrailVerifier(checkpoints, policy);
        await WalkAsync(0, headSequence, verifier.Add).ConfigureAwait(false);
        return verifier.Finish(headSequence, headHash);
    }

    /// <summary>
    /// Streams the records after <paramref name="after"/> up to <paramref name="upTo"/> in order, in pages (constant memory),
    /// until <paramref name="visit"/> returns false. Records beyond <paramref name="upTo"/> (appended after the head was
    /// read: a live service keeps writing) belong to a later walk.
    /// </summary>
    public async Task WalkAsync(long after, long upTo, Func<AuditEntry, bool> visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        const int PageSize = 10_000;
        while (true)
        {
            var page = await ReadAsync(after, PageSize).ConfigureAwait(false);
            foreach (var entry in page)
            {
                if (entry.Sequence > upTo || !visit(entry))
                {
                    return;
                }
            }

            if (page.Count < PageSize)
            {
                return;
            }

            after = page[^1].Sequence;
        }
    }

    /// <summary>The head row: the newest sequence and its hash. <paramref name="lockRow"/> locks it for the rest of the write transaction.</summary>
    public async Task<(long Sequence, byte[] Hash)> ReadHeadAsync(bool lockRow)
    {
        var rows = await _db.QueryAsync(
            $"SELECT seq, hash FROM audit_head WHERE id = 1{(lockRow ? _dialect.ForUpdate : string.Empty)}",
            r => (r.GetInt64(0), (byte[])r.GetValue(1))).ConfigureAwait(false);
        return rows.Count == 1 ? rows[0] : throw new DatabaseUnavailableException("The audit head row is missing: the audit trail cannot be extended.");
    }

    /// <summary>Stores a checkpoint; a second checkpoint of the same record (another node was quicker) is dropped.</summary>
    public Task<int> AddCheckpointAsync(AuditCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return _db.ExecuteAsync(
            $"INSERT INTO audit_checkpoints ({CheckpointColumns}) VALUES (@s, @h, @t, @k, @sig) ON CONFLICT (seq) DO NOTHING",
            ("@s", checkpoint.Sequence), ("@h", checkpoint.Hash), ("@t", CommandFactory.ToUnixMs(checkpoint.SignedAt)), ("@k", checkpoint.KeyId), ("@sig", checkpoint.Signature));
    }

    /// <summary>Checkpoints of records before <paramref name="before"/>, newest first, at most <paramref name="limit"/>.</summary>
    public Task<List<AuditCheckpoint>> CheckpointsBeforeAsync(long before, int limit) =>
        _db.QueryAsync($"SELECT {CheckpointColumns} FROM audit_checkpoints WHERE seq < @before ORDER BY seq DESC LIMIT @limit", MapCheckpoint, ("@before", before), ("@limit", limit));

    private static AuditCheckpoint MapCheckpoint(DbDataReader r) => new(
        r.GetInt64(0), (byte[])r.GetValue(1), CommandFactory.FromUnixMs(r.GetInt64(2)), (byte[])r.GetValue(3), (byte[])r.GetValue(4));

    private static AuditEntry Map(DbDataReader r) => new(
        r.GetInt64(0), CommandFactory.FromUnixMs(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4),
        r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6), (byte[])r.GetValue(7), (byte[])r.GetValue(8));
}
