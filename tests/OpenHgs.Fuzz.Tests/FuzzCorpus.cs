namespace OpenHgs.Fuzz.Tests;

/// <summary>The committed fuzz inputs: fuzz/corpus/TARGET/* (seeds) and fuzz/findings/TARGET/* (saved crashes and hangs).</summary>
internal static class FuzzCorpus
{
    public static string FuzzFolder { get; } = Path.Combine(FindRepositoryRoot(), "fuzz");

    public static string Seeds(string target) => Path.Combine(FuzzFolder, "corpus", target);

    public static string Findings(string target) => Path.Combine(FuzzFolder, "findings", target);

    /// <summary>Every (target, kind, file name) the regression tests replay.</summary>
    public static IEnumerable<(string Target, string Kind, string File)> Inputs() =>
        from target in FuzzTargets.All
        from kind in new[] { "corpus", "findings" }
        let folder = Path.Combine(FuzzFolder, kind, target.Name)
        where Directory.Exists(folder)
        from file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal)
        select (target.Name, kind, Path.GetFileName(file));

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenHgs.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("OpenHgs.slnx not found above " + AppContext.BaseDirectory);
    }
}
