namespace OpenHgs.Server.Hosting;

/// <summary>How <c>hgs server run</c> was started.</summary>
public sealed record HgsServerOptions
{
    /// <summary>The initialised data folder.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Kestrel URLs, e.g. <c>http://127.0.0.1:8080</c> or <c>https://0.0.0.0:8443</c>.</summary>
    public required IReadOnlyList<string> Urls { get; init; }

    /// <summary>TLS given on the command line; replaces the data folder's stored TLS settings whole. Null: use those.</summary>
    public Configuration.TlsSettings? Tls { get; init; }

    /// <summary>How often the server certificate files are checked for a rotation.</summary>
    public TimeSpan CertificateReloadInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Production mode: refuses the software key store, plain HTTP beyond loopback and development conveniences.</summary>
    public bool Production { get; init; }

    /// <summary>
    /// Critical key custody findings the admin accepts, each for one key (<c>hgs server run --accept-key-custody
    /// LABEL:CODE</c>, design change 79): with <see cref="Production"/> such a key is used anyway, logged and audited at every start.
    /// </summary>
    public IReadOnlyList<OpenHgs.Service.Keys.KeyCustodyAcceptance> AcceptedKeyCustody { get; init; } = [];

    /// <summary>Overrides hgs.json's <c>releaseKeyHandling</c> for this run (<c>hgs server run --release-key-handling</c>); null: the file's.</summary>
    public OpenHgs.Service.KeyProtection.ReleaseKeyHandling? ReleaseKeyHandling { get; init; }

    /// <summary>Largest accepted request body, bytes.</summary>
    public long MaxRequestBodyBytes { get; init; } = 512 * 1024;

    /// <summary>Least severe log level written to the console.</summary>
    public Microsoft.Extensions.Logging.LogLevel MinimumLogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>Console log format (<c>hgs server run --log-format</c>).</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>Where the Prometheus metrics are exposed (<c>hgs server run --metrics</c>); off by default.</summary>
    public MetricsExposure Metrics { get; init; } = MetricsExposure.Off;

    /// <summary>How often the audit head is signed.</summary>
    public OpenHgs.Service.Audit.AuditCheckpointOptions AuditCheckpoints { get; init; } = new();

    /// <summary>Bounds of the audit writer's refusal lane and error-record retries (docs/security.md, audit lanes).</summary>
    public OpenHgs.Service.Audit.AuditWriterOptions AuditWriter { get; init; } = new();

    /// <summary>Where committed audit records are also copied as JSON lines (<c>hgs server run --audit-file</c>); null: nowhere.</summary>
    public AuditFileOptions? AuditFile { get; init; }

    /// <summary>
    /// Requests per second per client address on the unauthenticated routes (<c>hgs server run --rate-limit</c>); null:
    /// unlimited. Defaults to <see cref="ClientRateLimit.Default"/>.
    /// </summary>
    public ClientRateLimit? RateLimit { get; init; } = ClientRateLimit.Default;

    /// <summary>
    /// Wraps the opened key store (tests observe its use through a decorator; the decorator must keep every optional
    /// capability of the store it wraps). Null: the store as opened.
    /// </summary>
    public Func<OpenHgs.Crypto.IKeyStore, OpenHgs.Crypto.IKeyStore>? KeyStoreDecorator { get; init; }

    /// <summary>
    /// Maps the bench's HTTP floor endpoint (<see cref="Endpoints.BenchFloorEndpoints"/>; <c>hgs server run</c> sets it from
    /// <c>OPENHGS_BENCH_HTTP_FLOOR</c>). Off by default; refused with <see cref="Production"/>.
    /// </summary>
    public bool BenchHttpFloor { get; init; }

    /// <summary>Time source; tests substitute one to exercise expiry.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
