using System.Text.Json.Nodes;

namespace OpenHgs.Bench;

/// <summary>
/// The two ceilings a load phase is set beside, in the same run (issue 12 §1): the token ceiling (the phase's key store
/// operations alone, <see cref="TokenCeilingBench"/>) and the HTTP floor (the same server answering
/// <c>POST /bench/v1/floor</c> with bodies of the phase's sizes, under the same <see cref="ClosedLoop"/> and concurrency).
/// Both run right after the phase they belong to, at the concurrency where that phase did best.
/// </summary>
public sealed class Ceilings(BenchOptions options, Progress progress, ServiceProcess service, WireClient wire, TokenCeilingBench token)
{
    /// <summary>The token's side: what a release or an attestation asks of the key store.</summary>
    public TokenCeilingBench Token => token;

    /// <summary>
    /// Measures <paramref name="work"/> alone with <paramref name="concurrency"/> threads and records
    /// <c>{prefix}_token_ceiling_per_s</c>, <c>_cpu_ms</c>, <c>_ops</c> and <c>{prefix}_vs_token_ceiling</c>.
    /// </summary>
    public TokenLoopResult TokenCeiling(JsonObject json, string prefix, TokenWork work, int concurrency, double servicePerSecond)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(work);
        var ceiling = TokenCeilingBench.Measure(work, concurrency, options.HsmDuration);
        double ratio = servicePerSecond / ceiling.PerSecond;
        json[$"{prefix}_token_ceiling_per_s"] = BenchRun.Round(ceiling.PerSecond);
        json[$"{prefix}_token_ceiling_cpu_ms"] = BenchRun.Round(ceiling.CpuMs, 3);
        json[$"{prefix}_token_ceiling_ops"] = work.Describe;
        json[$"{prefix}_token_ceiling_failures"] = ceiling.Failures;
        json[$"{prefix}_vs_token_ceiling"] = BenchRun.Round(ratio, 3);
        progress.Info($"{prefix}_token_ceiling_per_s = {ceiling.PerSecond:F0}: {work.Describe}, alone on the same token, {concurrency} threads (the phase's best concurrency), {ceiling.CpuMs:F3} ms CPU each{(ceiling.Failures > 0 ? $", {ceiling.Failures} refused by the token" : string.Empty)}; {prefix}_vs_token_ceiling = {ratio:F3}");
        return ceiling;
    }

    /// <summary>
    /// Runs the HTTP floor shaped like <paramref name="shape"/> at <paramref name="concurrency"/> and records
    /// <c>http_floor_{prefix}_per_s</c> (latencies, CPU, failures alike) and <c>{prefix}_vs_http_floor</c>.
    /// </summary>
    public async Task<LoadResult> HttpFloorAsync(JsonObject json, string prefix, HttpExchange[] shape, int concurrency, double servicePerSecond)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(shape);
        var requests = shape.Select(e => e.ToFloor()).ToArray();
        var (floor, cost) = await PhaseCost.MeasureAsync(service, () =>
            ClosedLoop.RunAsync(concurrency, options.LoadWarmup, options.LoadDuration, 2_000_000, (_, ct) => wire.FloorAsync(requests, ct))).ConfigureAwait(false);
        double ratio = floor.PerSecond > 0 ? servicePerSecond / floor.PerSecond : 0;
        string name = "http_floor_" + prefix;
        LoadPhases.Record(json, name, floor, cost, ($"{prefix}_vs_http_floor", ratio, 3));
        json[name + "_failures"] = floor.Failures;
        json[name + "_shape"] = string.Join(" + ", shape.Select(e => $"{e.RequestBytes?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} -> {e.ResponseBytes} bytes"));
        progress.Info($"{name}_per_s = {floor.PerSecond:F0} at concurrency {concurrency} (p50 {floor.P50Ms:F2} ms, p99 {floor.P99Ms:F2} ms; service CPU {cost.ServerCpuMsPerOp:F2} ms, load generator {cost.ClientCpuMsPerOp:F2} ms per operation): {shape.Length} POST {Server.Endpoints.BenchFloorEndpoints.Path} per operation, sized like the real one ({json[name + "_shape"]}); {prefix}_vs_http_floor = {ratio:F3}");
        if (floor.Failures > 0)
        {
            progress.Info($"  first failure: {floor.FirstFailure}");
        }

        return floor;
    }
}
