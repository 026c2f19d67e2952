using System.Globalization;

namespace OpenHgs.Bench;

/// <summary>What one bench run does; <c>--quick</c> shrinks every phase for a smoke test (its figures are not the reference).</summary>
public sealed record BenchOptions(
    bool Postgres,
    bool Quick,
    IReadOnlyList<int> Concurrency,
    TimeSpan HsmDuration,
    TimeSpan LoadWarmup,
    TimeSpan LoadDuration,
    TimeSpan ServiceWarmup,
    int ScaleSmallHosts,
    int ScaleLargeHosts,
    int ScaleAuditRecords,
    int ScaleSamples,
    TimeSpan ScaleSettle)
{
    /// <summary>Issue 12 states release p99 at this concurrency: the default sweep always includes it (<see cref="Targets"/>).</summary>
    public const int TargetConcurrency = 16;

    public const string Usage = """
        usage: run.sh [--postgres] [--quick] [--concurrency 4,8,16] [--hosts 100000] [--audit-records 1000000] [--samples 300]
          --postgres       run the service on a PostgreSQL server the bench starts (default: SQLite in the data folder)
          --quick          short phases and a small scale run (smoke test; figures are indicative only)
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool postgres = false, quick = false;
        int[]? concurrency = null;
        int? hosts = null, audit = null, samples = null;
        for (int i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            switch (args[i])
            {
                case "--postgres": postgres = true; break;
                case "--quick": quick = true; break;
                case "--concurrency": concurrency = Next().Split(',').Select(s => PositiveInt(s, "--concurrency")).ToArray(); break;
                case "--hosts": hosts = PositiveInt(Next(), "--hosts"); break;
                case "--audit-records": audit = PositiveInt(Next(), "--audit-records"); break;
                case "--samples": samples = PositiveInt(Next(), "--samples"); break;
                default: throw new ArgumentException($"unknown option '{args[i]}'.\n{Usage}");
            }
        }

        return new BenchOptions(
            postgres,
            quick,
            concurrency ?? [4, 8, TargetConcurrency],
            TimeSpan.FromSeconds(quick ? 1 : 3),
            TimeSpan.FromSeconds(quick ? 0.5 : 1),
            TimeSpan.FromSeconds(quick ? 1.5 : 4),
            TimeSpan.FromSeconds(quick ? 2 : 6),
            100,
            hosts ?? (quick ? 5_000 : 100_000),
            audit ?? (quick ? 50_000 : 1_000_000),
            samples ?? (quick ? 60 : 300),
            TimeSpan.FromSeconds(quick ? 3 : 25));
    }

    private static int PositiveInt(string text, string option) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : throw new ArgumentException($"{option}: '{text}' is not a positive whole number.");
}
