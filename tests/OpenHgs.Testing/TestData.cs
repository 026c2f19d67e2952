using System.Text.Json;
using Xunit;

namespace OpenHgs.Testing;

/// <summary>Locates the repository's event-log corpus (tests/testdata/eventlogs, found by walking up to the solution) and its manifest.</summary>
public static class TestData
{
    private const string ManifestRelative = "tests/testdata/eventlogs/manifest.json";

    /// <summary>The directory holding the event logs and manifest.json.</summary>
    public static string EventLogDirectory { get; } = FindEventLogDirectory();

    /// <summary>The manifest entries.</summary>
    public static IReadOnlyList<ManifestEntry> Manifest { get; } = LoadManifest();

    /// <summary>Manifest entry names, for [Theory] data.</summary>
    public static TheoryData<string> LogNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var entry in Manifest)
            {
                data.Add(entry.Name);
            }
            return data;
        }
    }

    /// <summary>Reads one log's bytes by manifest name.</summary>
    public static byte[] ReadLog(string name) => File.ReadAllBytes(Path.Combine(EventLogDirectory, Entry(name).File));

    /// <summary>The manifest entry with this name.</summary>
    public static ManifestEntry Entry(string name) => Manifest.Single(e => e.Name == name);

    private static string FindEventLogDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenHgs.slnx")))
            {
                string manifest = Path.Combine(dir.FullName, ManifestRelative);
                return File.Exists(manifest)
                    ? Path.GetDirectoryName(manifest)!
                    : throw new InvalidOperationException($"The repository at {dir.FullName} has no {ManifestRelative}.");
            }
        }
        throw new InvalidOperationException($"No OpenHgs.slnx above {AppContext.BaseDirectory}.");
    }

    private static List<ManifestEntry> LoadManifest()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(EventLogDirectory, "manifest.json")));
        var entries = new List<ManifestEntry>();
        foreach (var log in doc.RootElement.GetProperty("logs").EnumerateArray())
        {
            var pcrs = new Dictionary<string, Dictionary<int, string>>();
            foreach (var bank in log.GetProperty("expectedPcrs").EnumerateObject())
            {
                pcrs[bank.Name] = bank.Value.EnumerateObject().ToDictionary(p => int.Parse(p.Name), p => p.Value.GetString()!);
            }
            entries.Add(new ManifestEntry(log.GetProperty("name").GetString()!, log.GetProperty("file").GetString()!,
                log.GetProperty("bytes").GetInt32(), pcrs));
        }
        return entries;
    }
}

/// <summary>One log of the corpus and the PCR values its TPM reported.</summary>
public sealed record ManifestEntry(string Name, string File, int Bytes, IReadOnlyDictionary<string, Dictionary<int, string>> ExpectedPcrs);
