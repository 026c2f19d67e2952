namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>The checkout the tests run from: the folder holding <c>OpenHgs.slnx</c> above the test output.</summary>
public static class RepositoryFolder
{
    public static string Root { get; } = Find();

    private static string Find()
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
