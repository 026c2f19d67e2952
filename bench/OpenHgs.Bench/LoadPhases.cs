using System.Text.Json.Nodes;

namespace OpenHgs.Bench;

/// <summary>Concurrent end-to-end load over HTTP: key releases, then host-key attestations, each at several concurrencies.</summary>
public sealed class LoadPhases(
    BenchOptions options, Progress progress, ServiceProcess service, WireClient wire, List<BenchHost> hosts, HsmRates hsm, AuditAppendRates audit, Ceilings ceilings)
{
    public async Task RunAsync(JsonObject json, byte[] releaseBody, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(json);
        progress.Step($"warm-up: releases and attestations at concurrency 8 for {options.ServiceWarmup.TotalSeconds:F0} s, unmeasured (the service's JIT tiers up)");
        var half = options.ServiceWarmup / 2;
        await ClosedLoop.RunAsync(8, half, TimeSpan.Zero, long.MaxValue, (_, ct) => wire.ReleaseAsync(releaseBody, ct)).ConfigureAwait(false);
        await ClosedLoop.RunAsync(8, half, TimeSpan.Zero, long.MaxValue, (worker, ct) => wire.AttestAsync(hosts[worker % hosts.Count], ct)).ConfigureAwait(false);
        progress.Step($"key release: POST /keyprotection/v1/release, closed loop at concurrency {string.Join('/', options.Concurrency)}, {options.LoadDuration.TotalSeconds:F1} s each");
        var (release, releaseCost) = await SweepAsync("release", json, (_, ct) => wire.ReleaseAsync(releaseBody, ct)).ConfigureAwait(false);
        double releaseVsHsm = release.PerSecond / hsm.UnwrapPerSecond;
        Record(json, "release", release, releaseCost, ("release_vs_hsm", releaseVsHsm, 3));
        double tokenCpuMs = (hsm.NativeRewrapCpuMs ?? hsm.UnwrapCpuMs) + hsm.KpsSignCpuMs;
        json["release_vs_key_store_ceiling"] = BenchRun.Round(release.PerSecond / hsm.ReleaseCeilingPerSecond, 3);
        json["release_token_cpu_share"] = BenchRun.Round(tokenCpuMs / releaseCost.ServerCpuMsPerOp, 3);
        progress.Info($"release_per_s = {release.PerSecond:F0} at concurrency {release.Concurrency} (p50 {release.P50Ms:F1} ms, p99 {release.P99Ms:F1} ms); release_vs_hsm = {releaseVsHsm:F3} (target ≥ 0.8)");
        progress.Info($"  per release the service does an RSA-2048 unwrap and a KPS {hsm.KpsSignAlgorithm} signature of the rolled key protector in the token: key store ceiling {hsm.ReleaseCeilingPerSecond:F0}/s = {hsm.ReleaseCeilingPerSecond / hsm.UnwrapPerSecond:F2} × hsm_unwrap_per_s");
        progress.Info($"  release_vs_key_store_ceiling = {release.PerSecond / hsm.ReleaseCeilingPerSecond:F3}; of the service's CPU per release, {tokenCpuMs:F2} ms ({tokenCpuMs / releaseCost.ServerCpuMsPerOp:P0}) is the token's own work (re-wrap + KPS signature), the rest HTTP, JSON, checks and the audit commit");
        progress.Info($"  plus 1 durable audit record, group-committed with the releases that arrive together (AuditWriter, ≤ 64 per transaction); one record per transaction alone: {audit.ConcurrentPerSecond:F0}/s with {audit.Concurrency} writers ({audit.SequentialMeanMs:F2} ms each alone), {audit.Batched16RecordsPerSecond:F0} records/s at 16 per transaction");
        progress.Info($"  CPU per release: service {releaseCost.ServerCpuMsPerOp:F2} ms (token math + HTTP + JSON + certificate/signature checks), load generator {releaseCost.ClientCpuMsPerOp:F2} ms; service kept {releaseCost.ServerCoresBusy:F2} of {Environment.ProcessorCount} cores busy");
        progress.Info($"  limit: {Limit(release.PerSecond, hsm.ReleaseCeilingPerSecond, audit.Batched16RecordsPerSecond, releaseCost)}");
        progress.Step($"release ceilings, side by side: token ceiling (its key store operations alone) and HTTP floor (an empty endpoint, release-sized bodies), at concurrency {release.Concurrency}");
        ceilings.TokenCeiling(json, "release", ceilings.Token.Release(), release.Concurrency, release.PerSecond);
        var releaseShape = await wire.ReleaseShapeAsync(releaseBody, cancellationToken).ConfigureAwait(false);
        await ceilings.HttpFloorAsync(json, "release", releaseShape, release.Concurrency, release.PerSecond).ConfigureAwait(false);

        progress.Step($"attestation: attest over the previous verdict's nextChallenge (health certificate signed in the token), closed loop at concurrency {string.Join('/', options.Concurrency)}");
        var countersBefore = await ServiceCounters.ReadAsync(service, cancellationToken).ConfigureAwait(false);
        var (attest, attestCost) = await SweepAsync("attest", json, (worker, ct) => wire.AttestAsync(hosts[worker % hosts.Count], ct)).ConfigureAwait(false);
        var attestOps = (await ServiceCounters.ReadAsync(service, cancellationToken).ConfigureAwait(false)).PerAttestationSince(countersBefore);
        double attestVsSign = attest.PerSecond / hsm.AttestationSignPerSecond;
        Record(json, "attest", attest, attestCost, ("attest_vs_hsm_sign", attestVsSign, 4));
        progress.Info($"attest_per_s = {attest.PerSecond:F0} at concurrency {attest.Concurrency} (p50 {attest.P50Ms:F1} ms, p99 {attest.P99Ms:F1} ms); attest_vs_hsm_sign = {attestVsSign:F4} (aim ≥ 0.5)");
        progress.Info($"  per attestation: 1 HTTP round trip and 1 durable commit (stateless MAC'd challenge from the previous verdict; used-nonce row + audit record at attest, the evidence checked and the ECDSA signature made before that write transaction); 1 ECDSA signature in the token (≈{1000 / (hsm.AttestationSignPerSecond / hsm.Threads):F3} ms of one core)");
        progress.Info($"  commit ceiling ≈ {audit.ConcurrentPerSecond:F0} attestations/s (1 commit each); CPU per attestation: service {attestCost.ServerCpuMsPerOp:F2} ms, load generator {attestCost.ClientCpuMsPerOp:F2} ms (evidence signature, JSON)");
        progress.Info($"  limit: {Limit(attest.PerSecond, hsm.AttestationSignPerSecond, audit.ConcurrentPerSecond, attestCost)}");
        progress.Step($"attestation ceilings, side by side: token ceiling and HTTP floor (attest-sized exchanges: one per attestation in the steady state), at concurrency {attest.Concurrency}");
        attestOps.Record(json, "attestation", progress);
        ceilings.TokenCeiling(json, "attestation", ceilings.Token.Attestation(attestOps), attest.Concurrency, attest.PerSecond);
        var attestShape = await wire.AttestShapeAsync(hosts[0], cancellationToken).ConfigureAwait(false);
        await ceilings.HttpFloorAsync(json, "attestation", attestShape, attest.Concurrency, attest.PerSecond).ConfigureAwait(false);
    }

    private async Task<(LoadResult Best, PhaseCost Cost)> SweepAsync(string name, JsonObject json, Func<int, CancellationToken, Task> operation)
    {
        var sweep = new JsonArray();
        (LoadResult Result, PhaseCost Cost)? best = null;
        foreach (int concurrency in options.Concurrency)
        {
            var run = await PhaseCost.MeasureAsync(service, () => ClosedLoop.RunAsync(concurrency, options.LoadWarmup, options.LoadDuration, 200_000, operation)).ConfigureAwait(false);
            var r = run.Result;
            progress.Info($"{name} c={concurrency,2}: {r.PerSecond,7:F1}/s  p50 {r.P50Ms,6:F2} ms  p99 {r.P99Ms,6:F2} ms  max {r.MaxMs,6:F1} ms  ({r.Operations} measured, {r.Failures} failed; service CPU {run.Cost.ServerCpuMsPerOp:F2} ms/op)");
            if (r.Failures > 0)
            {
                progress.Info($"  first failure: {r.FirstFailure}");
            }

            sweep.Add(SweepEntry(concurrency, r));
            if (best is null || r.PerSecond > best.Value.Result.PerSecond)
            {
                best = run;
            }
        }

        json[name + "_sweep"] = sweep;
        long failures = sweep.Sum(s => s!["failures"]!.GetValue<long>());
        json[name + "_failures"] = failures;
        return best!.Value;
    }

    /// <summary>One concurrency of a phase's sweep: rate, latencies (0 when <c>operations</c>, those measured, is 0), failures.</summary>
    internal static JsonObject SweepEntry(int concurrency, LoadResult r) => new()
    {
        ["concurrency"] = concurrency,
        ["operations"] = r.Operations,
        ["per_s"] = BenchRun.Round(r.PerSecond),
        ["p50_ms"] = BenchRun.Round(r.P50Ms, 2),
        ["p99_ms"] = BenchRun.Round(r.P99Ms, 2),
        ["failures"] = r.Failures,
    };

    /// <summary>The figures every load phase reports under its prefix: best rate, latencies, concurrency, one ratio, CPU per operation.</summary>
    internal static void Record(JsonObject json, string prefix, LoadResult best, PhaseCost cost, (string Name, double Value, int Digits) ratio)
    {
        json[$"{prefix}_per_s"] = BenchRun.Round(best.PerSecond);
        json[$"{prefix}_p50_ms"] = BenchRun.Round(best.P50Ms, 2);
        json[$"{prefix}_p99_ms"] = BenchRun.Round(best.P99Ms, 2);
        json[$"{prefix}_concurrency"] = best.Concurrency;
        json[ratio.Name] = BenchRun.Round(ratio.Value, ratio.Digits);
        json[$"{prefix}_server_cpu_ms"] = BenchRun.Round(cost.ServerCpuMsPerOp, 2);
        json[$"{prefix}_client_cpu_ms"] = BenchRun.Round(cost.ClientCpuMsPerOp, 2);
    }

    internal static string Limit(double rate, double hsmCeiling, double commitCeiling, PhaseCost cost, params (string Name, double Value)[] more)
    {
        double cpuCeiling = Environment.ProcessorCount * 1000 / Math.Max(0.001, cost.ServerCpuMsPerOp + cost.ClientCpuMsPerOp);
        var ceilings = new (string Name, double Value)[]
        {
            ("key store (HSM) operations", hsmCeiling),
            ("durable commits (fsync; writers serialised on one lock)", commitCeiling),
            ($"CPU of {Environment.ProcessorCount} cores shared by service + load generator", cpuCeiling),
        }.Concat(more).ToArray();
        var tightest = ceilings.MinBy(c => c.Value);
        return $"{string.Join("; ", ceilings.Select(c => $"{c.Name} ≤ {c.Value:F0}/s"))} → tightest: {tightest.Name} (measured {rate:F0}/s = {rate / tightest.Value:P0} of it)";
    }
}
