using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Upgrade;

/// <summary>
/// A data folder, host state and key protector written by a real older release (<c>Upgrade/fixtures/COMMIT</c>, made by
/// <c>make-fixture.sh</c>), and the facts its <c>fixture.json</c> recorded. Read from the repository (found by walking up
/// to OpenHgs.slnx, as <c>TestData</c> finds tests/testdata) and only ever used through a copy, so a test never changes it.
/// </summary>
public sealed record OldReleaseFixture(string Commit, string HostName, int ValidityMinutes, string AdminTokenFile, string ReleasedTransportKeySha256)
{
    public const string DataFolder = "data";
    public const string HostKeysFolder = "host-keys";
    public const string HostStateFolder = "host-state";
    public const string KeyProtectorFile = "vm1.kp";

    /// <summary>The PostgreSQL fixture's database: a plain SQL dump beside the data folder (make-fixture.sh --postgres).</summary>
    public const string PostgresDumpFile = "database.sql";

    /// <summary>The fixture's folder in the repository.</summary>
    public static string SourceFolder(string release) =>
        Path.Combine(RepositoryFolder.Root, "tests", "OpenHgs.EndToEnd.Tests", "Upgrade", "fixtures", release);

    /// <summary>Reads <c>fixture.json</c>; a missing field fails the test rather than defaulting.</summary>
    public static OldReleaseFixture Load(string folder)
    {
        var facts = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "fixture.json"))) ?? throw new InvalidOperationException("fixture.json is empty");
        string Text(string name) => facts[name]?.GetValue<string>() ?? throw new InvalidOperationException($"fixture.json has no {name}");
        return new OldReleaseFixture(
            Text("commit"),
            Text("hostName"),
            facts["validityMinutes"]?.GetValue<int>() ?? throw new InvalidOperationException("fixture.json has no validityMinutes"),
            Text("adminTokenFile"),
            Text("releasedTransportKeySha256"));
    }

    /// <summary>
    /// Copies the fixture into <paramref name="destination"/> with owner-only modes, as the old release left them (git
    /// keeps only the executable bit, and the service refuses key and credential files others can read).
    /// </summary>
    public static void CopyTo(string source, string destination)
    {
        const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Directory.CreateDirectory(destination, OwnerFile | UnixFileMode.UserExecute);
        foreach (string file in Directory.EnumerateFiles(source))
        {
            string copy = Path.Combine(destination, Path.GetFileName(file));
            File.Copy(file, copy);
            File.SetUnixFileMode(copy, OwnerFile);
        }

        foreach (string folder in Directory.EnumerateDirectories(source))
        {
            CopyTo(folder, Path.Combine(destination, Path.GetFileName(folder)));
        }
    }

    /// <summary>
    /// Points a copied host state at <paramref name="serviceUrl"/> and the copied host keys, changing nothing else in the
    /// old release's <c>client.json</c> (the fixture run's port and temporary folder are gone).
    /// </summary>
    public static void RepointHostState(string copiedFixture, string serviceUrl)
    {
        string path = Path.Combine(copiedFixture, HostStateFolder, "client.json");
        var configuration = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        configuration["attestationUrls"] = new JsonArray(serviceUrl);
        configuration["keyProtectionUrls"] = new JsonArray(serviceUrl);
        configuration["hostKeyDirectory"] = Path.Combine(copiedFixture, HostKeysFolder);
        File.WriteAllText(path, configuration.ToJsonString());
    }

    /// <summary>
    /// Points a copied data folder's <c>hgs.json</c> at <paramref name="databaseSpec"/> (<c>postgres:CONNECTION-STRING</c>),
    /// changing nothing else the old release wrote.
    /// </summary>
    public static void RepointDatabase(string copiedFixture, string databaseSpec)
    {
        string path = Path.Combine(copiedFixture, DataFolder, "hgs.json");
        var configuration = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        if (configuration["database"] is null)
        {
            throw new InvalidOperationException($"{path} names no database");
        }

        configuration["database"] = databaseSpec;
        File.WriteAllText(path, configuration.ToJsonString());
    }
}
