using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using OpenHgs.Client;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;

namespace OpenHgs.Bench;

/// <summary>
/// TPM attestations with pre-recorded evidence. A quote must cover a fresh single-use nonce, so "pre-recorded" means:
/// before each measured run, challenges are fetched from the running service and answered by real swtpm instances
/// (quote + certify over each nonce, the event log, the certified host key), and the attest requests serialised. The
/// measured run then only POSTs those requests (closed loop, same machinery as the host-key attestation phase).
/// Challenges are not bound to a host (<c>POST /attestation/v1/challenge</c> has no body), so a host may hold many
/// outstanding nonces; the swtpm instances only make the preparation parallel. The service is in TPM mode during this
/// phase and back in host-key mode afterwards.
/// </summary>
public sealed class TpmLoadPhase(
    BenchOptions options,
    Progress progress,
    ServiceProcess service,
    WireClient wire,
    AdminClient admin,
    string adminToken,
    string root,
    string databaseProvider,
    HsmRates hsm,
    AuditAppendRates audit,
    Ceilings ceilings)
{
    /// <summary>The corpus event log every bench TPM host "booted" with (a RHEL 8 GCE VM with Secure Boot).</summary>
    public const string EventLogName = "Rhel8GCE";

    /// <summary>Prepared attestations per measured run: expected rate × (warm-up + measured window) × this, plus 2 × concurrency.</summary>
    private const double PoolMargin = 1.3;

    private static readonly int HostCount = Math.Clamp(Environment.ProcessorCount, 2, 4);

    private readonly ConcurrentQueue<PreparedAttest> _pool = new();
    private readonly List<TpmBenchHost.EvidenceSession> _sessions = [];
    private long _prepared;
    private long _submitted;
    private long _failures;
    private string? _firstFailure;
    private double _prepareSeconds;
    private double _evidenceMs;
    private long _oldestNonceTicks;

    public async Task RunAsync(JsonObject json, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(json);
        progress.Step($"TPM attestation: {HostCount} swtpm hosts (swtpm_setup with an EK certificate from a private CA, PCRs extended with the {EventLogName} event log), service in TPM mode");
        long setupStart = Stopwatch.GetTimestamp();
        byte[] eventLog = TestData.ReadLog(EventLogName);
        var hosts = new TpmBenchHost?[HostCount];
        using var tpmAdmin = new TpmAdminClient([service.BaseAddress.ToString().TrimEnd('/')], adminToken);
        bool tpmMode = false;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, HostCount).Select(i => Task.Run(() => { hosts[i] = TpmBenchHost.Start($"bench-tpm-{i}", eventLog, root, service.BaseAddress); }, cancellationToken))).ConfigureAwait(false);
            progress.Info($"{HostCount} swtpm started and booted in {Stopwatch.GetElapsedTime(setupStart).TotalSeconds:F1} s");

            await admin.SetModeAsync("tpm", cancellationToken).ConfigureAwait(false);
            tpmMode = true;
            var baseline = BaselineCapture.Describe(eventLog, "bench-" + EventLogName, DateTimeOffset.UtcNow).Document;
            await tpmAdmin.AddBaselineAsync("bench-" + EventLogName, baseline, cancellationToken).ConfigureAwait(false);
            double clientEvidenceMs = 0;
            foreach (var host in hosts.Select(h => h!))
            {
                await tpmAdmin.AddRootAsync(host.RootCertificatePem, cancellationToken).ConfigureAwait(false);
                await tpmAdmin.AddRootAsync(host.IssuerCertificatePem, cancellationToken).ConfigureAwait(false);
                await host.EnrolAsync(tpmAdmin, cancellationToken).ConfigureAwait(false);
                clientEvidenceMs += (await host.AttestWithClientAsync(cancellationToken).ConfigureAwait(false)).TotalMilliseconds / HostCount;
                _sessions.Add(host.OpenSession());
            }

            double setupSeconds = Stopwatch.GetElapsedTime(setupStart).TotalSeconds;
            progress.Info($"EK CA roots and the {EventLogName} baseline registered, hosts enrolled (hosts add-tpm + AK activation) and each attested once through the real client (hgs client attest: {clientEvidenceMs:F1} ms to make the evidence); setup {setupSeconds:F1} s in all");

            byte[] stageNonce = RandomNumberGenerator.GetBytes(OpenHgs.Service.Attestation.AttestationChallenges.NonceBytes);
            var stageEvidence = _sessions[0].Attest(stageNonce);
            var stages = TpmStageBench.Run(JsonSerializer.SerializeToUtf8Bytes(baseline, WireJson.Default.BaselineDocument), stageEvidence, stageNonce, TimeSpan.FromSeconds(options.Quick ? 0.1 : 0.3));
            int requestBytes = WireClient.AttestBody(new AttestRequest(Base64Url.EncodeToString(stageNonce), Tpm: stageEvidence)).Length;
            progress.Info($"in the attest transaction (in process, one thread, CPU ms): load policy snapshot {stages.LoadBaselinesMs:F3} ({stages.Baselines} baseline: JSON + base64 + parse + replay of its {eventLog.Length:N0}-byte log, every attestation); parse + replay the host's log {stages.ParseAndReplayMs:F3}; verify quote + certify (2 RSA-2048 verifications) {stages.VerifyQuoteAndCertifyMs:F3}; default policies {stages.PoliciesMs:F3} = {stages.TotalMs:F2} ms; the service's whole decision from the evidence (TpmEvidenceChecks.Evaluate, without the baselines, which are cached per policy version) {stages.EvaluateMs:F3} ms, plus the certificate's ECDSA signature in the token ({hsm.AttestationSignCpuMs:F3} ms)");

            int calibration = options.Quick ? 96 : 192;
            progress.Step($"TPM attestation: preparing {calibration} (challenge from the service, quote + certify in swtpm) and submitting them at concurrency 8, unmeasured: warm-up (first half) and rate estimate (second half)");
            await TopUpAsync(calibration, cancellationToken).ConfigureAwait(false);
            Count(await ClosedLoop.RunAsync(8, TimeSpan.Zero, TimeSpan.FromSeconds(60), calibration / 2, SubmitAsync).ConfigureAwait(false));
            var probe = await ClosedLoop.RunAsync(8, TimeSpan.Zero, TimeSpan.FromSeconds(60), _pool.Count, SubmitAsync).ConfigureAwait(false);
            Count(probe);
            double hostKeyRate = json["attest_per_s"]?.GetValue<double>() ?? 0;
            double estimate = Math.Max(1, Math.Max(probe.PerSecond, hostKeyRate));
            progress.Info($"{probe.PerSecond:F0}/s (expected rate for sizing: the larger of this and attest_per_s {hostKeyRate:F0}/s); preparation {_prepareSeconds * 1000 / _prepared:F2} ms per attestation ({HostCount} swtpm in parallel; quote + certify {_evidenceMs / _prepared:F2} ms in one swtpm)");

            progress.Step($"TPM attestation: POST /attestation/v1/attest with prepared evidence, closed loop at concurrency {string.Join('/', options.Concurrency)}, {options.LoadDuration.TotalSeconds:F1} s each (prepared before each run: expected rate × {(options.LoadWarmup + options.LoadDuration).TotalSeconds:F1} s × {PoolMargin})");
            var countersBefore = await ServiceCounters.ReadAsync(service, cancellationToken).ConfigureAwait(false);
            var (best, cost) = await SweepAsync(json, estimate, cancellationToken).ConfigureAwait(false);
            var tokenOps = (await ServiceCounters.ReadAsync(service, cancellationToken).ConfigureAwait(false)).PerAttestationSince(countersBefore);

            if (!_pool.IsEmpty)
            {
                int left = _pool.Count;
                var drained = await ClosedLoop.RunAsync(4, TimeSpan.Zero, TimeSpan.FromSeconds(120), left, SubmitAsync).ConfigureAwait(false);
                Count(drained);
                progress.Info($"the {left} prepared attestations left over were submitted too (unmeasured), {drained.Failures} failed");
            }

            // The HTTP floor is shaped like one real exchange: a prepared request, sent alone, and the verdict it got.
            await TopUpAsync(1, cancellationToken).ConfigureAwait(false);
            HttpExchange[] shape = [await SubmitAsync(0, cancellationToken).ConfigureAwait(false)];

            double vsSign = best.PerSecond / hsm.AttestationSignPerSecond;
            LoadPhases.Record(json, "tpm_attest", best, cost, ("tpm_attest_vs_hsm_sign", vsSign, 4));
            json["tpm_attest_failures"] = Interlocked.Read(ref _failures);
            json["tpm_attest_prepared"] = Interlocked.Read(ref _prepared);
            json["tpm_attest_submitted"] = Interlocked.Read(ref _submitted);
            json["tpm_attest_hosts"] = HostCount;
            json["tpm_attest_event_log"] = EventLogName;
            json["tpm_attest_request_bytes"] = requestBytes;
            json["tpm_attest_prepare_ms"] = BenchRun.Round(_prepareSeconds * 1000 / _prepared, 2);
            json["tpm_attest_evidence_ms"] = BenchRun.Round(_evidenceMs / _prepared, 2);
            json["tpm_attest_client_evidence_ms"] = BenchRun.Round(clientEvidenceMs, 1);
            json["tpm_attest_max_nonce_age_s"] = BenchRun.Round(TimeSpan.FromTicks(Interlocked.Read(ref _oldestNonceTicks)).TotalSeconds, 1);
            json["tpm_attest_setup_s"] = BenchRun.Round(setupSeconds, 1);
            json["tpm_stage_load_policies_ms"] = BenchRun.Round(stages.LoadBaselinesMs, 3);
            json["tpm_stage_parse_replay_ms"] = BenchRun.Round(stages.ParseAndReplayMs, 3);
            json["tpm_stage_verify_quote_certify_ms"] = BenchRun.Round(stages.VerifyQuoteAndCertifyMs, 3);
            json["tpm_stage_policies_ms"] = BenchRun.Round(stages.PoliciesMs, 3);
            json["tpm_stage_total_ms"] = BenchRun.Round(stages.TotalMs, 3);
            json["tpm_stage_evaluate_ms"] = BenchRun.Round(stages.EvaluateMs, 3);
            Explain(json, best, cost, stages, requestBytes, vsSign);
            progress.Step($"TPM attestation ceilings, side by side: token ceiling and HTTP floor (one exchange per attestation: the prepared request's size → a real verdict's), at concurrency {best.Concurrency}");
            tokenOps.Record(json, "tpm_attestation", progress);
            ceilings.TokenCeiling(json, "tpm_attestation", ceilings.Token.Attestation(tokenOps), best.Concurrency, best.PerSecond);
            await ceilings.HttpFloorAsync(json, "tpm_attestation", shape, best.Concurrency, best.PerSecond).ConfigureAwait(false);
        }
        finally
        {
            _sessions.ForEach(s => s.Dispose());
            if (tpmMode)
            {
                await admin.SetModeAsync("host-key", CancellationToken.None).ConfigureAwait(false);
            }

            foreach (var host in hosts)
            {
                host?.Dispose();
            }
        }
    }

    private void Explain(JsonObject json, LoadResult best, PhaseCost cost, TpmStages stages, int requestBytes, double vsSign)
    {
        progress.Info($"tpm_attest_per_s = {best.PerSecond:F0} at concurrency {best.Concurrency} (p50 {best.P50Ms:F1} ms, p99 {best.P99Ms:F1} ms); tpm_attest_vs_hsm_sign = {vsSign:F4}; {Interlocked.Read(ref _prepared)} prepared, {Interlocked.Read(ref _submitted)} submitted, {Interlocked.Read(ref _failures)} failed; oldest nonce used {TimeSpan.FromTicks(Interlocked.Read(ref _oldestNonceTicks)).TotalSeconds:F0} s after it was issued (lifetime {OpenHgs.Service.Attestation.AttestationChallenges.Lifetime.TotalMinutes:F0} min)");
        if (_firstFailure is not null)
        {
            progress.Info($"  first failure: {_firstFailure}");
        }

        double hostKeyCpu = json["attest_server_cpu_ms"]?.GetValue<double>() ?? double.NaN;
        progress.Info($"  per TPM attestation (challenge already fetched): 1 HTTP round trip with a {requestBytes / 1024.0:F0} KB request (the event log is most of it), 1 durable commit (used-nonce row + audit record), 1 ECDSA signature in the token; service CPU {cost.ServerCpuMsPerOp:F2} ms (a host-key attestation, challenge included: {hostKeyCpu:F2} ms), load generator {cost.ClientCpuMsPerOp:F2} ms");
        progress.Info($"  the service checks the evidence before its write transaction ({stages.TotalMs:F2} ms of CPU measured above, with the policy set cached per policy version, so re-reading the baselines ({stages.LoadBaselinesMs:F2} ms) happens once per version, not per attestation); the transaction only records the nonce as used, re-checks version, host and AK, and appends the audit record");
        var more = new List<(string Name, double Value)>();
        if (databaseProvider != "sqlite")
        {
            progress.Info("  on PostgreSQL attest transactions run in parallel; they serialise only from the audit append (head row lock) to the commit");
        }

        progress.Info($"  limit: {LoadPhases.Limit(best.PerSecond, hsm.AttestationSignPerSecond, audit.ConcurrentPerSecond, cost, [.. more])}");
        progress.Info($"  preparation is not measured: {_prepareSeconds * 1000 / Math.Max(1, Interlocked.Read(ref _prepared)):F2} ms wall per attestation ({HostCount} swtpm in parallel, challenge round trip included), quote + certify {_evidenceMs / Math.Max(1, Interlocked.Read(ref _prepared)):F2} ms in one swtpm with the keys loaded (the client re-creates the SRK every time: {json["tpm_attest_client_evidence_ms"]} ms)");
    }

    private async Task<(LoadResult Best, PhaseCost Cost)> SweepAsync(JsonObject json, double estimate, CancellationToken cancellationToken)
    {
        var sweep = new JsonArray();
        (LoadResult Result, PhaseCost Cost)? best = null;
        double window = (options.LoadWarmup + options.LoadDuration).TotalSeconds;
        foreach (int concurrency in options.Concurrency)
        {
            for (int attempt = 1; ; attempt++)
            {
                int target = (int)Math.Ceiling(estimate * window * PoolMargin * attempt) + (2 * concurrency);
                long prepareStart = Stopwatch.GetTimestamp();
                int added = await TopUpAsync(target, cancellationToken).ConfigureAwait(false);
                double prepared = Stopwatch.GetElapsedTime(prepareStart).TotalSeconds;
                int size = _pool.Count;
                var run = await PhaseCost.MeasureAsync(service, () => ClosedLoop.RunAsync(concurrency, options.LoadWarmup, options.LoadDuration, size, SubmitAsync)).ConfigureAwait(false);
                var r = run.Result;
                Count(r);
                bool exhausted = _pool.IsEmpty;
                estimate = Math.Max(estimate, r.PerSecond);
                progress.Info($"tpm_attest c={concurrency,2}: {r.PerSecond,7:F1}/s  p50 {r.P50Ms,6:F2} ms  p99 {r.P99Ms,6:F2} ms  max {r.MaxMs,6:F1} ms  ({r.Operations} measured of {size} prepared — {added} made in {prepared:F1} s; {r.Failures} failed; service CPU {run.Cost.ServerCpuMsPerOp:F2} ms/op)");
                if (r.Failures > 0)
                {
                    progress.Info($"  first failure: {r.FirstFailure}");
                }

                if (exhausted && attempt == 1)
                {
                    progress.Info($"  all {size} prepared attestations were used before the window ended: preparing more and repeating c={concurrency}");
                    continue;
                }

                var entry = LoadPhases.SweepEntry(concurrency, r);
                entry["prepared"] = size;
                entry["exhausted"] = exhausted;
                entry["repeated"] = attempt > 1;
                sweep.Add(entry);
                if (best is null || r.PerSecond > best.Value.Result.PerSecond)
                {
                    best = run;
                }

                break;
            }
        }

        json["tpm_attest_sweep"] = sweep;
        return best!.Value;
    }

    /// <summary>
    /// Fills the pool up to <paramref name="target"/> attest requests: 4 tasks fetch challenges from the service, one
    /// worker per swtpm answers them (quote + certify) and serialises the request. Returns how many were added.
    /// </summary>
    private async Task<int> TopUpAsync(int target, CancellationToken cancellationToken)
    {
        int count = target - _pool.Count;
        if (count <= 0)
        {
            return 0;
        }

        long start = Stopwatch.GetTimestamp();
        var channel = Channel.CreateUnbounded<(ChallengeResponse Challenge, long IssuedAt)>();
        int issued = 0;
        async Task Challenger()
        {
            while (Interlocked.Increment(ref issued) <= count)
            {
                var challenge = await wire.ChallengeAsync(cancellationToken).ConfigureAwait(false);
                await channel.Writer.WriteAsync((challenge, Stopwatch.GetTimestamp()), cancellationToken).ConfigureAwait(false);
            }
        }

        var challengers = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Challenger, cancellationToken)));
        var workers = _sessions.Select(session => Task.Run(
            async () =>
            {
                double ms = 0;
                await foreach (var (challenge, issuedAt) in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    long before = Stopwatch.GetTimestamp();
                    var evidence = session.Attest(Base64Url.DecodeFromChars(challenge.Nonce));
                    ms += Stopwatch.GetElapsedTime(before).TotalMilliseconds;
                    _pool.Enqueue(new PreparedAttest(WireClient.AttestBody(new AttestRequest(challenge.Nonce, Tpm: evidence)), issuedAt));
                }

                return ms;
            },
            cancellationToken)).ToList();
        ExceptionDispatchInfo? failure = null;
        try
        {
            await challengers.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }
        finally
        {
            channel.Writer.TryComplete();
        }

        double[] evidenceMs = await Task.WhenAll(workers).ConfigureAwait(false);
        failure?.Throw();
        _evidenceMs += evidenceMs.Sum();
        _prepareSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
        Interlocked.Add(ref _prepared, count);
        return count;
    }

    /// <summary>The measured operation: POST the next prepared attest request; returns the exchange's sizes.</summary>
    private Task<HttpExchange> SubmitAsync(int worker, CancellationToken cancellationToken)
    {
        if (!_pool.TryDequeue(out var prepared))
        {
            throw new InvalidOperationException("no prepared attestation left");
        }

        long age = Stopwatch.GetElapsedTime(prepared.IssuedAt).Ticks;
        long oldest;
        while (age > (oldest = Interlocked.Read(ref _oldestNonceTicks)) && Interlocked.CompareExchange(ref _oldestNonceTicks, age, oldest) != oldest)
        {
        }

        Interlocked.Increment(ref _submitted);
        return wire.AttestPreparedAsync(prepared.Body, cancellationToken);
    }

    private void Count(LoadResult result)
    {
        Interlocked.Add(ref _failures, result.Failures);
        if (result.FirstFailure is not null)
        {
            Interlocked.CompareExchange(ref _firstFailure, result.FirstFailure, null);
        }
    }

    private sealed record PreparedAttest(byte[] Body, long IssuedAt);
}
