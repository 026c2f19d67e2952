namespace OpenHgs.Protocol.Tests.Support;

/// <summary>Files of the repository the tests read (and, when asked, regenerate): found by walking up to the solution.</summary>
internal static class RepositoryFiles
{
    private static readonly Lazy<string> Root = new(FindRoot);

    public static string VectorFile => Path.Combine(Root.Value, "tests", "OpenHgs.Protocol.Tests", "Vectors", "key-protector-v1.json");

    public static string KeyProtectorDoc => Path.Combine(Root.Value, "docs", "key-protector.md");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenHgs.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No OpenHgs.slnx above {AppContext.BaseDirectory}.");
    }
}
