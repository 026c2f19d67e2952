using System.Diagnostics.Metrics;
using OpenHgs.Crypto;

namespace OpenHgs.Service.Observability;

/// <summary>
/// The service's one meter, <c>OpenHgs</c>: every instrument the Prometheus endpoint shows (docs/operations.md).
/// </summary>
/// <remarks>
/// Security contract: labels are closed sets only — outcomes (<see cref="Outcomes"/>), problem and failure codes (stable
/// identifiers from the code base, anything else is counted as <c>Other</c>), key store and database operation names,
/// and cluster member names (<c>m1</c>, <c>m2</c>: positions in the configuration). Never host names, key labels,
/// subjects, addresses or free text, so a scrape reveals counts and timings, not who or what.
/// </remarks>
public sealed class HgsMetrics : IDisposable
{
    /// <summary>The meter's name, for exporters.</summary>
    public const string MeterName = "OpenHgs";

    /// <summary>The value of the <c>code</c> label for a code that is not a plain identifier (never expected).</summary>
    public const string OtherCode = "Other";

    /// <summary>The value of the <c>code</c> label when nothing was refused.</summary>
    public const string NoCode = "None";

    private readonly Meter _meter;
    private readonly TimeProvider _time;
    private readonly Counter<long> _attestations;
    private readonly Histogram<double> _attestationDuration;
    private readonly Counter<long> _releases;
    private readonly Histogram<double> _releaseDuration;
    private readonly Histogram<double> _keyStoreDuration;
    private readonly Histogram<double> _auditCommitDuration;
    private readonly Counter<long> _auditRecords;
    private readonly Histogram<double> _databaseDuration;
    private readonly Counter<long> _databaseErrors;
    private readonly Counter<long> _rateLimited;

    public HgsMetrics(IMeterFactory meters, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _meter = meters.Create(MeterName);
        _attestations = _meter.CreateCounter<long>("hgs_attestations", description: "Attestation requests answered, by outcome (passed, refused, error) and failure or problem code.");
        _attestationDuration = _meter.CreateHistogram<double>("hgs_attestation_duration", "s", "Time to answer an attestation request, by outcome.");
        _releases = _meter.CreateCounter<long>("hgs_releases", description: "Key release requests answered, by outcome (released, refused, error) and problem code.");
        _releaseDuration = _meter.CreateHistogram<double>("hgs_release_duration", "s", "Time to answer a key release request, by outcome.");
        _keyStoreDuration = _meter.CreateHistogram<double>("hgs_keystore_operation_duration", "s", "Key store (HSM) operation latency, by operation and outcome (ok, not_found, unavailable, error).");
        _auditCommitDuration = _meter.CreateHistogram<double>("hgs_audit_commit_duration", "s", "Time to commit one audit batch (group commit), by outcome (ok, error).");
        _auditRecords = _meter.CreateCounter<long>("hgs_audit_records", description: "Audit records committed.");
        _databaseDuration = _meter.CreateHistogram<double>("hgs_database_operation_duration", "s", "Database transaction and read latency, by operation and outcome.");
        _databaseErrors = _meter.CreateCounter<long>("hgs_database_errors", description: "Database operations that failed, by operation and kind (unavailable, integrity, error).");
        _rateLimited = _meter.CreateCounter<long>("hgs_rate_limited_requests", description: "Requests refused by the per-address rate limit (RateLimited) before any work.");
    }

    /// <summary>Closed outcome label values.</summary>
    public static class Outcomes
    {
        public const string Passed = "passed";
        public const string Released = "released";
        public const string Refused = "refused";
        public const string Error = "error";
        public const string Ok = "ok";
        public const string NotFound = "not_found";
        public const string Unavailable = "unavailable";
        public const string Integrity = "integrity";

        /// <summary>The work inside a database transaction refused or was cancelled: not a database error.</summary>
        public const string Aborted = "aborted";
    }

    /// <summary>One attestation answered: <paramref name="code"/> is the first failure code or problem code, or <see cref="NoCode"/>.</summary>
    public void Attestation(string outcome, string code, TimeSpan elapsed)
    {
        _attestations.Add(1, new("outcome", outcome), new("code", Label(code)));
        _attestationDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <summary>One key release answered.</summary>
    public void Release(string outcome, string code, TimeSpan elapsed)
    {
        _releases.Add(1, new("outcome", outcome), new("code", Label(code)));
        _releaseDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <summary>One key store operation (<paramref name="operation"/> is one of <see cref="MeteredKeyStore"/>'s names).</summary>
    public void KeyStoreOperation(string operation, string outcome, TimeSpan elapsed) =>
        _keyStoreDuration.Record(elapsed.TotalSeconds, new("operation", operation), new("outcome", outcome));

    /// <summary>One audit batch committed (or not).</summary>
    public void AuditCommit(int records, bool committed, TimeSpan elapsed)
    {
        _auditCommitDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", committed ? Outcomes.Ok : Outcomes.Error));
        if (committed)
        {
            _auditRecords.Add(records);
        }
    }

    /// <summary>One database operation (<c>transaction</c>, <c>read</c>, <c>ping</c>, <c>migrate</c>); outcomes other than ok and aborted count as errors.</summary>
    public void DatabaseOperation(string operation, string outcome, TimeSpan elapsed)
    {
        _databaseDuration.Record(elapsed.TotalSeconds, new("operation", operation), new("outcome", outcome));
        if (outcome is not (Outcomes.Ok or Outcomes.Aborted))
        {
            _databaseErrors.Add(1, new("operation", operation), new("kind", outcome));
        }
    }

    /// <summary>One request refused by the rate limiter.</summary>
    public void RateLimited() => _rateLimited.Add(1);

    /// <summary>Reports <paramref name="depth"/> as <c>hgs_audit_queue_depth</c>: audit records waiting for their commit.</summary>
    public void ObserveAuditQueue(Func<int> depth)
    {
        ArgumentNullException.ThrowIfNull(depth);
        _meter.CreateObservableGauge("hgs_audit_queue_depth", depth, description: "Audit records queued and not yet committed.");
    }

    /// <summary>Reports each member of a clustered key store as <c>hgs_keystore_member_up{member}</c> (1 up, 0 down).</summary>
    public void ObserveKeyStoreMembers(IKeyStoreHealth health)
    {
        ArgumentNullException.ThrowIfNull(health);
        _meter.CreateObservableGauge(
            "hgs_keystore_member_up",
            () => health.Members.Select(m => new Measurement<int>(m.State == KeyStoreMemberState.Up ? 1 : 0, new KeyValuePair<string, object?>("member", m.Name))),
            description: "Whether each key store cluster member takes operations (1) or is down (0).");
    }

    /// <summary>A timestamp to measure a duration from (<see cref="Since"/>).</summary>
    public long Start() => _time.GetTimestamp();

    /// <summary>The time since <paramref name="start"/> (<see cref="Start"/>).</summary>
    public TimeSpan Since(long start) => _time.GetElapsedTime(start);

    /// <summary>The code itself when it is a plain identifier (every code in OpenHGS is), else <see cref="OtherCode"/>.</summary>
    public static string Label(string code) =>
        code is { Length: > 0 and <= 64 } && code.All(char.IsAsciiLetterOrDigit) ? code : OtherCode;

    public void Dispose() => _meter.Dispose();
}
