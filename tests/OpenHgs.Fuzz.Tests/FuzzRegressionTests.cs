namespace OpenHgs.Fuzz.Tests;

/// <summary>
/// Replays every seed and every saved finding through the same target code afl-fuzz runs: each input must be
/// accepted or refused with the parser's documented exception.
/// </summary>
public sealed class FuzzRegressionTests
{
    public static TheoryData<string, string, string> Inputs()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (target, kind, file) in FuzzCorpus.Inputs())
        {
            data.Add(target, kind, file);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Input_is_accepted_or_refused_with_the_documented_exception(string target, string kind, string file)
    {
        var fuzzTarget = FuzzTargets.Find(target) ?? throw new InvalidOperationException($"No target {target}.");
        byte[] input = File.ReadAllBytes(Path.Combine(FuzzCorpus.FuzzFolder, kind, target, file));

        bool accepted = fuzzTarget.Execute(input);

        // Seeds are real, valid inputs: one the parser refuses has rotted (a format change) and no longer
        // leads the fuzzer past the first check. Findings may be accepted or refused.
        Assert.True(accepted || kind == "findings", $"the seed {target}/{file} is refused by its parser");
    }

    [Fact]
    public void Every_target_has_seeds_and_every_folder_names_a_target()
    {
        foreach (var target in FuzzTargets.All)
        {
            Assert.True(Directory.Exists(FuzzCorpus.Seeds(target.Name)), $"fuzz/corpus/{target.Name} is missing");
            Assert.NotEmpty(Directory.EnumerateFiles(FuzzCorpus.Seeds(target.Name)));
        }

        var names = FuzzTargets.All.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(names.Count, FuzzTargets.All.Count);
        foreach (string kind in new[] { "corpus", "findings" })
        {
            string folder = Path.Combine(FuzzCorpus.FuzzFolder, kind);
            foreach (string dir in Directory.Exists(folder) ? Directory.EnumerateDirectories(folder) : [])
            {
                Assert.Contains(Path.GetFileName(dir), names);
            }
        }
    }

    [Fact]
    public void The_harness_swallows_only_the_documented_refusal()
    {
        var refusing = new ThrowingTarget(new FormatException("refused"));
        Assert.False(refusing.Execute([1]));

        var crashing = new ThrowingTarget(new IndexOutOfRangeException("bug"));
        Assert.Throws<IndexOutOfRangeException>(() => crashing.Execute([1]));

        var derived = new ThrowingTarget(new ArgumentException("not a format exception"));
        Assert.Throws<ArgumentException>(() => derived.Execute([1]));
    }

    private sealed class ThrowingTarget(Exception exception) : FuzzTarget<FormatException>
    {
        public override string Name => "throwing";

        public override string Description => "throws what it is given";

        protected override void Run(ReadOnlySpan<byte> input) => throw exception;
    }
}
