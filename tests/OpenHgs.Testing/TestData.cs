using System.Text.Json;
using Xunit;

namespace OpenHgs.Testing;

/// <summary>Locates the shared test corpus (../shared relative to the repository root) and its manifest.</summary>
public static class TestData
{
    private const string ManifestRelative = "shared/testdata/eventlogs/manifest.json";

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
            foreach (var candidate in new[] { Path.Combine(dir.FullName, ManifestRelative), Path.Combine(dir.FullName, "..", ManifestRelative) })
            {
                if (File.Exists(candidate))
                {
                    return Path.GetDirectoryName(Path.GetFullPath(candidate))!;
                }
            }
        }
        throw new InvalidOperationException(
            $"Cannot find {ManifestRelative} above {AppContext.BaseDirectory} (expected ../shared next to the repository).");
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

/// <summary>One log of the shared corpus and the PCR values its TPM reported.</summary>
public sealed record ManifestEntry(string Name, string File, int Bytes, IReadOnlyDictionary<string, Dictionary<int, string>> ExpectedPcrs);
