using System.Globalization;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>
/// Counts audit records that did not fit their lane, by event, outcome and code (never by subject, which a client
/// chooses), so that a flood costs one counter per code and still leaves one record per code with its count. Not
/// thread-safe: <see cref="AuditWriter"/> holds its lock around every call.
/// </summary>
internal sealed class AuditTally
{
    private readonly Dictionary<(string Event, string Outcome, string? Reason), Bucket> _buckets = [];

    public int Count => _buckets.Count;

    /// <summary>Counts <paramref name="count"/> records like <paramref name="e"/>; <paramref name="created"/> says whether this opened a new bucket.</summary>
    public Bucket Add(AuditEvent e, long count, DateTimeOffset first, DateTimeOffset last, out bool created)
    {
        var key = (e.Event, e.Outcome, e.Reason);
        created = !_buckets.TryGetValue(key, out var bucket);
        if (bucket is null)
        {
            bucket = new Bucket(e.Event, e.Outcome, e.Reason, first);
            _buckets.Add(key, bucket);
        }

        bucket.Count += count;
        bucket.First = first < bucket.First ? first : bucket.First;
        bucket.Last = last > bucket.Last ? last : bucket.Last;
        return bucket;
    }

    /// <summary>Puts a bucket whose record could not be committed back, merged with what was counted meanwhile.</summary>
    public void Restore(Bucket bucket) => Add(new AuditEvent(bucket.Event, bucket.Outcome, string.Empty, bucket.Reason, string.Empty), bucket.Count, bucket.First, bucket.Last, out _);

    /// <summary>Removes up to <paramref name="max"/> buckets: each becomes one record; later records open new buckets.</summary>
    public List<Bucket> Take(int max)
    {
        var taken = _buckets.Take(max).ToList();
        foreach (var (key, _) in taken)
        {
            _buckets.Remove(key);
        }

        return taken.ConvertAll(t => t.Value);
    }

    /// <summary>Records counted into one bucket; every caller counted into it waits for the one record's commit.</summary>
    internal sealed class Bucket(string auditEvent, string outcome, string? reason, DateTimeOffset first)
    {
        public string Event { get; } = auditEvent;

        public string Outcome { get; } = outcome;

        public string? Reason { get; } = reason;

        public long Count { get; set; }

        public DateTimeOffset First { get; set; } = first;

        public DateTimeOffset Last { get; set; } = first;

        public TaskCompletionSource Committed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>
        /// The aggregated record: subject <c>aggregate</c>, the code as reason, and how many records it stands for between
        /// which times. It is a record of the chain like any other, so it verifies (and is signed by checkpoints) like one.
        /// </summary>
        public AuditEvent ToRecord() => AuditRecord.Create(Event, Outcome, AuditRecord.AggregateSubject, Reason,
            ("aggregatedCount", Count.ToString(CultureInfo.InvariantCulture)),
            ("firstSeen", First.ToString("O", CultureInfo.InvariantCulture)),
            ("lastSeen", Last.ToString("O", CultureInfo.InvariantCulture)));
    }
}
