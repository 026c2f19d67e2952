using System.Globalization;
using System.Text.Json.Nodes;

namespace OpenHgs.Bench;

/// <summary>
/// The issues' speed targets, each computed from this run's figures and recorded as
/// <c>targets.{issue}.{name} = { figure, value, limit, pass, note }</c>, then printed on stderr. <c>pass</c> is null
/// when the run did not measure the figure (<c>note</c> says why); a note beside a pass says where the run's
/// conditions differ from the target's (cores, scale, database), so a PASS of a smoke test is not read as the result.
/// </summary>
public static class Targets
{
    private const int NodeCores = 2;
    private const int TargetHosts = 100_000;
    private const int TargetAuditRecords = 1_000_000;

    private static readonly Target[] All =
    [
        new("issue4", "release_vs_hsm_ge_0.8", 0.8, AtMost: false, Field("release_vs_hsm")),
        new("issue4", "release_p99_le_25ms", 25, AtMost: true, Field("release_p99_ms")),
        new("issue4", "attest_vs_hsm_sign_ge_0.5", 0.5, AtMost: false, Field("attest_vs_hsm_sign")),
        new("issue4", "scale_latency_ratio_le_1.2", 1.2, AtMost: true, Field("scale_latency_ratio", FullScale)),
        new("issue4", "server_peak_rss_le_300mb", 300, AtMost: true, Field("server_peak_rss_mb", FullScale)),
        new("issue12", "release_vs_token_ceiling_ge_0.8", 0.8, AtMost: false, Field("release_vs_token_ceiling", ReleaseBestElsewhere)),
        new("issue12", $"release_p99_at_c{BenchOptions.TargetConcurrency}_le_25ms", 25, AtMost: true, ReleaseP99AtTargetConcurrency),
        new("issue12", "attest_per_s_ge_1500", 1500, AtMost: false, Field("attest_per_s", PerNode)),
        new("issue12", "tpm_attest_per_s_ge_600", 600, AtMost: false, Field("tpm_attest_per_s", PerNode)),
        new("issue12", "scale_latency_ratio_le_1.2", 1.2, AtMost: true, Field("scale_latency_ratio", FullScale, OneDatabase)),
        new("issue12", "server_peak_rss_le_300mb", 300, AtMost: true, Field("server_peak_rss_mb", FullScale)),
    ];

    /// <summary>Adds <c>targets</c> to <paramref name="json"/> (grouped by issue) and prints each with its figure and PASS/MISS.</summary>
    public static void Add(JsonObject json, Progress progress)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(progress);
        var targets = new JsonObject();
        progress.Step("targets (issue 4, issue 12): this run's figures against them");
        foreach (var target in All)
        {
            var (figure, value, note) = target.Measure(json);
            bool? pass = value is { } v ? (target.AtMost ? v <= target.Limit : v >= target.Limit) : null;
            if (targets[target.Issue] is not JsonObject issue)
            {
                targets[target.Issue] = issue = new JsonObject();
            }

            issue[target.Name] = new JsonObject
            {
                ["figure"] = figure,
                ["value"] = value,
                ["limit"] = target.Limit,
                ["pass"] = pass,
                ["note"] = note,
            };
            string measured = value is { } x ? $"{figure} = {x.ToString("G4", CultureInfo.InvariantCulture)}" : $"{figure} not measured";
            progress.Info($"{(pass == true ? "PASS" : "MISS")}  {target.Issue}.{target.Name}: {measured} ({(target.AtMost ? "≤" : "≥")} {target.Limit.ToString(CultureInfo.InvariantCulture)}){(note is null ? string.Empty : "; " + note)}");
        }

        json["targets"] = targets;
    }

    /// <summary>A top-level figure, with the caveats that apply to it.</summary>
    private static Func<JsonObject, Measured> Field(string name, params Func<JsonObject, string?>[] caveats) => json =>
        Read(json, name) is { } value
            ? new Measured(name, value, Join(caveats.Select(c => c(json))))
            : new Measured(name, null, "not in this run's figures");

    /// <summary>Issue 12 states the release latency at one concurrency, so it comes from that entry of the sweep, not the best one.</summary>
    private static Measured ReleaseP99AtTargetConcurrency(JsonObject json)
    {
        string figure = $"release_sweep[c={BenchOptions.TargetConcurrency}].p99_ms";
        var sweep = json["release_sweep"] as JsonArray ?? [];
        var entry = sweep.OfType<JsonObject>().FirstOrDefault(e => e["concurrency"]?.GetValue<int>() == BenchOptions.TargetConcurrency);
        if (entry is null)
        {
            return new Measured(figure, null, $"concurrency {BenchOptions.TargetConcurrency} was not run (release sweep: {string.Join(", ", sweep.OfType<JsonObject>().Select(e => e["concurrency"]))}; --concurrency leaves it out)");
        }

        // With nothing measured the entry's p99 is 0, which must not read as a pass.
        return entry["operations"]?.GetValue<long>() is > 0 && Read(entry, "p99_ms") is { } p99
            ? new Measured(figure, p99, null)
            : new Measured(figure, null, $"no release at concurrency {BenchOptions.TargetConcurrency} both started and ended inside the measured window");
    }

    private static string? ReleaseBestElsewhere(JsonObject json) =>
        json["release_concurrency"]?.GetValue<int>() is { } c && c != BenchOptions.TargetConcurrency
            ? $"release_per_s is the sweep's best, at concurrency {c}, not {BenchOptions.TargetConcurrency}"
            : null;

    private static string? PerNode(JsonObject json) =>
        json["cores"]?.GetValue<int>() is { } cores && cores != NodeCores
            ? $"the target is per {NodeCores}-core node; this machine has {cores} cores"
            : null;

    private static string? FullScale(JsonObject json)
    {
        int hosts = json["scale_large_hosts"]?.GetValue<int>() ?? 0, records = json["scale_audit_records"]?.GetValue<int>() ?? 0;
        return hosts < TargetHosts || records < TargetAuditRecords
            ? $"scale run to {hosts:N0} hosts and {records:N0} audit records, below the target's {TargetHosts:N0} and {TargetAuditRecords:N0} (indicative only)"
            : null;
    }

    private static string? OneDatabase(JsonObject json) =>
        $"this run: {json["database"]}; the target is for both SQLite and PostgreSQL (--postgres), one run each";

    private static double? Read(JsonObject json, string name) =>
        json[name]?.GetValue<double>() is { } value && double.IsFinite(value) ? value : null;

    private static string? Join(IEnumerable<string?> notes)
    {
        var present = notes.OfType<string>().ToList();
        return present.Count == 0 ? null : string.Join("; ", present);
    }

    /// <summary>One target: the figure must be at most (or at least) <paramref name="Limit"/>.</summary>
    private sealed record Target(string Issue, string Name, double Limit, bool AtMost, Func<JsonObject, Measured> Measure);

    /// <summary>The figure a target reads (its JSON name), its value (null: not measured) and a note.</summary>
    private sealed record Measured(string Figure, double? Value, string? Note);
}
