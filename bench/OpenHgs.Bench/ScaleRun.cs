using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;

namespace OpenHgs.Bench;

/// <summary>
/// The scale run (issue 4 and 12: 100 → 100,000 hosts and +1,000,000 audit records may grow attestation p50 by at most
/// 1.2×). Sequential attestations on this VM vary by ±50 % from one minute to the next (fsync latency, neighbours,
/// the thread pool's state), more than the effect measured, so each step is measured against a <b>reference</b>: a
/// second service of the same build with its own token and database of the same kind, which keeps 100 hosts and its
/// few records throughout. Each step sends the same sequential attestations to both, alternating (ABBA), so both see
/// the same machine at the same moment; the ratio reported is the measured service's growth divided by the
/// reference's growth between the steps (the machine's drift).
/// </summary>
public sealed class ScaleRun(BenchOptions options, Progress progress)
{
    private static readonly TimeSpan ReferenceWarmup = TimeSpan.FromSeconds(10);

    public async Task RunAsync(
        JsonObject json, BenchDatabase database, PostgresServer? postgres, PostgresStatements? statements, ServiceProcess service, WireClient wire,
        List<BenchHost> hosts, string root, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(hosts);
        progress.Step($"scale run: a reference service beside the measured one (same build, own SoftHSM2 token, own {database.Provider} database, {options.ScaleSmallHosts} hosts), so each step is measured against the same machine at the same moment");
        await using var reference = await ReferenceService.StartAsync(root, postgres, hosts, options.ScaleSmallHosts, cancellationToken).ConfigureAwait(false);
        var measured = new Target(service, wire, hosts);
        var control = new Target(reference.Service, reference.Wire, hosts);
        // The measured service has served thousands of attestations by now; the reference catches up here, unmeasured:
        // concurrent load, then a sequential block like the steps'. With only a few seconds of concurrent load its CPU per
        // attestation in the first step was still ≈1.7× the measured service's (bench/README, 7 Dec 2026).
        var warmupCpu = reference.Service.CpuTime;
        await ClosedLoop.RunAsync(4, ReferenceWarmup, TimeSpan.Zero, long.MaxValue, (worker, ct) => reference.Wire.AttestAsync(hosts[worker % hosts.Count], ct)).ConfigureAwait(false);
        var sequentialCpu = reference.Service.CpuTime;
        var sequential = await ClosedLoop.SequentialAsync(0, options.ScaleSamples, control.AttestAsync).ConfigureAwait(false);
        progress.Info($"reference warmed up: {ReferenceWarmup.TotalSeconds:F0} s at concurrency 4 ({(sequentialCpu - warmupCpu).TotalSeconds:F1} s of its CPU), then {options.ScaleSamples} sequential (p50 {sequential.P50Ms:F2} ms, {(reference.Service.CpuTime - sequentialCpu).TotalMilliseconds / options.ScaleSamples:F2} ms of CPU each)");

        progress.Step($"scale run: {options.ScaleSamples} sequential attestations with {options.ScaleSmallHosts} registered hosts, alternating with the reference");
        var small = await MeasureStepAsync(json, "small", measured, control, statements, cancellationToken).ConfigureAwait(false);

        progress.Step($"scale run: seeding to {options.ScaleLargeHosts:N0} hosts and +{options.ScaleAuditRecords:N0} audit records (direct SQL, valid hash chain)");
        long seedStart = System.Diagnostics.Stopwatch.GetTimestamp();
        await new ScaleSeeder(database, progress).SeedAsync(options.ScaleLargeHosts - options.ScaleSmallHosts, options.ScaleSmallHosts, options.ScaleAuditRecords, cancellationToken).ConfigureAwait(false);
        progress.Info($"seeded in {System.Diagnostics.Stopwatch.GetElapsedTime(seedStart).TotalSeconds:F1} s");

        // The service has never seen the seeded records: the first group commit that signs a checkpoint verifies the chain
        // from its last trusted point, all of them, once (design change 25) — what it does a few records at a time when
        // they arrive through the service. That one-time catch-up is timed here, not in the steady-state figures.
        long catchUpStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var catchUpCpu = service.CpuTime;
        await ClosedLoop.SequentialAsync(0, 20, measured.AttestAsync).ConfigureAwait(false);
        double catchUpS = System.Diagnostics.Stopwatch.GetElapsedTime(catchUpStart).TotalSeconds;
        progress.Info($"first 20 attestations after the bulk load: {catchUpS:F1} s, service CPU {(service.CpuTime - catchUpCpu).TotalSeconds:F1} s (the checkpointer verifies the seeded records once), not measured");
        json["scale_catch_up_s"] = BenchRun.Round(catchUpS, 2);

        progress.Step($"scale run: {options.ScaleSamples} sequential attestations with {options.ScaleLargeHosts:N0} hosts and {options.ScaleAuditRecords:N0}+ audit records, alternating with the reference");
        var large = await MeasureStepAsync(json, "large", measured, control, statements, cancellationToken).ConfigureAwait(false);

        double rawRatio = large.Measured.P50Ms / small.Measured.P50Ms;
        double drift = large.Reference.P50Ms / small.Reference.P50Ms;
        double ratio = rawRatio / drift;
        double ratioP99 = large.Measured.P99Ms / small.Measured.P99Ms / (large.Reference.P99Ms / small.Reference.P99Ms);
        progress.Info($"measured service p50 {small.Measured.P50Ms:F2} → {large.Measured.P50Ms:F2} ms ({rawRatio:F2} ×); reference, unchanged, {small.Reference.P50Ms:F2} → {large.Reference.P50Ms:F2} ms ({drift:F2} ×: the machine's drift between the steps)");
        progress.Info($"scale_latency_ratio (p50) = {rawRatio:F2} / {drift:F2} = {ratio:F2} (target ≤ 1.20); the two services within one step differ by {small.Measured.P50Ms / small.Reference.P50Ms:F2} × before the seeding (control) and {large.Measured.P50Ms / large.Reference.P50Ms:F2} × after");
        json["scale_small_hosts"] = options.ScaleSmallHosts;
        json["scale_small_attest_p50_ms"] = BenchRun.Round(small.Measured.P50Ms, 2);
        json["scale_small_attest_p99_ms"] = BenchRun.Round(small.Measured.P99Ms, 2);
        json["scale_large_hosts"] = options.ScaleLargeHosts;
        json["scale_audit_records"] = options.ScaleAuditRecords;
        json["scale_large_attest_p50_ms"] = BenchRun.Round(large.Measured.P50Ms, 2);
        json["scale_large_attest_p99_ms"] = BenchRun.Round(large.Measured.P99Ms, 2);
        json["scale_reference_small_p50_ms"] = BenchRun.Round(small.Reference.P50Ms, 2);
        json["scale_reference_large_p50_ms"] = BenchRun.Round(large.Reference.P50Ms, 2);
        json["scale_latency_ratio_raw"] = BenchRun.Round(rawRatio, 3);
        json["scale_reference_drift"] = BenchRun.Round(drift, 3);
        json["scale_latency_ratio"] = BenchRun.Round(ratio, 3);
        json["scale_latency_ratio_p99"] = BenchRun.Round(ratioP99, 3);
        json["scale_small_server_cpu_ms"] = BenchRun.Round(small.MeasuredCpuMs, 2);
        json["scale_large_server_cpu_ms"] = BenchRun.Round(large.MeasuredCpuMs, 2);
        json["scale_reference_small_server_cpu_ms"] = BenchRun.Round(small.ReferenceCpuMs, 2);
        json["scale_reference_large_server_cpu_ms"] = BenchRun.Round(large.ReferenceCpuMs, 2);
        json["reference_peak_rss_mb"] = BenchRun.Round(reference.Service.PeakRssMb);
    }

    private async Task<StepResult> MeasureStepAsync(
        JsonObject json, string step, Target measured, Target control, PostgresStatements? statements, CancellationToken cancellationToken)
    {
        // The same state before both steps: the thread pool grows under load (the phases before the small step, the
        // catch-up before the large one) and retires a worker idle for 20 s; until then every request wakes spare
        // workers that spin for work, CPU that a sequential run pays in latency and that has nothing to do with the tables.
        int threadsBefore = measured.Service.ThreadCount;
        await Task.Delay(options.ScaleSettle, cancellationToken).ConfigureAwait(false);
        progress.Info($"idle {options.ScaleSettle.TotalSeconds:F0} s first: service threads {threadsBefore} → {measured.Service.ThreadCount} (reference {control.Service.ThreadCount})");
        if (statements is not null)
        {
            await statements.ResetAsync(cancellationToken).ConfigureAwait(false);
        }

        var databaseCpu = statements?.ServerCpuTime;
        TimeSpan measuredCpu = measured.Service.CpuTime, controlCpu = control.Service.CpuTime;
        var (a, b) = await ClosedLoop.AlternatingAsync(20, options.ScaleSamples, measured.AttestAsync, control.AttestAsync).ConfigureAwait(false);
        int attestations = options.ScaleSamples + 20;
        double measuredCpuMs = (measured.Service.CpuTime - measuredCpu).TotalMilliseconds / attestations;
        double controlCpuMs = (control.Service.CpuTime - controlCpu).TotalMilliseconds / attestations;
        progress.Info($"measured: p50 {a.P50Ms:F2} ms, p99 {a.P99Ms:F2} ms, service CPU {measuredCpuMs:F2} ms per attestation; reference: p50 {b.P50Ms:F2} ms, p99 {b.P99Ms:F2} ms, service CPU {controlCpuMs:F2} ms");
        if (statements is not null)
        {
            double dbCpuMs = (statements.ServerCpuTime - databaseCpu!.Value).TotalMilliseconds / (2.0 * attestations);
            json[$"scale_{step}_db_cpu_ms"] = BenchRun.Round(dbCpuMs, 2);
            var stats = await statements.ReadAsync(cancellationToken).ConfigureAwait(false);
            progress.Info($"PostgreSQL: server CPU {dbCpuMs:F2} ms per attestation (both services, warm-up included); the measured service's statements by total time (pg_stat_statements), per attestation:");
            foreach (var stat in stats.Take(8))
            {
                double calls = Math.Max(1, stat.Calls);
                progress.Info($"  {stat.TotalMs / attestations,7:F3} ms  {stat.Calls / (double)attestations,5:F2} calls  mean {stat.MeanMs:F3} ms  blocks hit/read/dirtied per call {stat.BlocksHit / calls:F1}/{stat.BlocksRead / calls:F1}/{stat.BlocksDirtied / calls:F1}  WAL {stat.WalBytes / calls:F0} B  {Shorten(stat.Query)}");
            }
        }

        return new StepResult(a, b, measuredCpuMs, controlCpuMs);
    }

    private static string Shorten(string query)
    {
        string oneLine = string.Join(' ', query.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return oneLine.Length <= 110 ? oneLine : oneLine[..107] + "...";
    }

    private sealed record StepResult(LoadResult Measured, LoadResult Reference, double MeasuredCpuMs, double ReferenceCpuMs);

    /// <summary>A service and the hosts that attest to it, in turn.</summary>
    private sealed class Target(ServiceProcess service, WireClient wire, List<BenchHost> hosts)
    {
        private int _next;

        public ServiceProcess Service => service;

        public Task AttestAsync(CancellationToken cancellationToken) => wire.AttestAsync(hosts[_next++ % hosts.Count], cancellationToken);
    }

    /// <summary>The reference service: initialised like the measured one, with the same hosts registered (and fillers up to the small population).</summary>
    private sealed class ReferenceService : IAsyncDisposable
    {
        private readonly SoftHsmToken _token;
        private readonly HttpClient _http;

        private ReferenceService(SoftHsmToken token, ServiceProcess service, HttpClient http)
        {
            _token = token;
            Service = service;
            _http = http;
            Wire = new WireClient(http);
        }

        public ServiceProcess Service { get; }

        public WireClient Wire { get; }

        public static async Task<ReferenceService> StartAsync(string root, PostgresServer? postgres, List<BenchHost> hosts, int population, CancellationToken cancellationToken)
        {
            var token = new SoftHsmToken();
            try
            {
                string data = Path.Combine(root, "reference");
                var database = postgres is null ? BenchDatabase.Sqlite(Path.Combine(data, "hgs.db")) : BenchDatabase.Postgres(postgres.CreateDatabase("bench_reference"));
                var init = await HgsInitializer.InitializeAsync(new InitRequest(data, token.KeyStoreUri, database.ServiceSpec, "Bench reference", false), TimeProvider.System, cancellationToken).ConfigureAwait(false);
                string adminToken = (await File.ReadAllTextAsync(init.AdminTokenPath!, cancellationToken).ConfigureAwait(false)).Trim();
                var service = await ServiceProcess.StartAsync(data, cancellationToken).ConfigureAwait(false);
                try
                {
                    using var admin = new AdminClient([service.BaseAddress.ToString().TrimEnd('/')], adminToken);
                    await BenchHost.RegisterAsync(admin, hosts, population, cancellationToken).ConfigureAwait(false);

                    return new ReferenceService(token, service, WireClient.CreateHttp(service.BaseAddress, 4));
                }
                catch
                {
                    await service.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch
            {
                token.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            await Service.DisposeAsync().ConfigureAwait(false);
            _token.Dispose();
        }
    }
}
