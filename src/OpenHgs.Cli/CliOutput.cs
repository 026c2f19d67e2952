using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace OpenHgs.Cli;

/// <summary>Writes command results as indented JSON (<c>--json</c>) or as plain lines.</summary>
internal static class CliOutput
{
    // Relaxed escaping: CLI output is read by people and shell tools, not embedded in HTML.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Json<T>(T value, JsonTypeInfo<T> type)
    {
        var node = JsonSerializer.SerializeToNode(value, type);
        Console.Out.WriteLine(node?.ToJsonString(Indented) ?? "null");
    }

    public static void Json(JsonNode node) => Console.Out.WriteLine(node.ToJsonString(Indented));

    /// <summary>One line of text output, made inert for the terminal (it may carry a service's or a certificate's strings).</summary>
    public static void Line(string text) => Console.Out.WriteLine(TerminalText.Inert(text));

    /// <summary>A security warning on stderr (so it is seen even with <c>--json</c> piped to a tool), one line.</summary>
    public static void Warning(string text) => Console.Error.WriteLine("WARNING: " + TerminalText.Inert(text));

    /// <summary>
    /// Whether anything is at <paramref name="path"/>: a file, a folder or a link, even one whose target does not exist
    /// (following a planted link would write the output wherever its planter chose).
    /// </summary>
    public static bool Taken(string path) => File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>Refuses, before any work, when an output is taken or two outputs are the same file.</summary>
    public static void RequireNewFiles(IReadOnlyList<string> paths, string options)
    {
        if (paths.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).Count() != paths.Count)
        {
            throw new CliException($"{options} must name different files.");
        }

        if (paths.FirstOrDefault(Taken) is { } existing)
        {
            throw new CliException($"'{existing}' already exists; refusing to overwrite it.");
        }
    }

    /// <summary>Writes every file or none: when one write fails, the files this command already wrote are removed.</summary>
    public static void WriteAllOrNothing(IReadOnlyList<(string Path, Action<string> Write)> writes)
    {
        var written = new List<string>();
        try
        {
            foreach (var (path, write) in writes)
            {
                write(path);
                written.Add(path);
            }
        }
        catch
        {
            written.ForEach(File.Delete);
            throw;
        }
    }

    /// <summary>Writes a file that holds secrets (mode 0600), refusing to overwrite unless asked.</summary>
    public static void WriteSecretFile(string path, ReadOnlySpan<byte> content, bool overwrite = false)
    {
        if (Taken(path))
        {
            if (!overwrite)
            {
                throw new CliException($"'{path}' already exists; refusing to overwrite it.");
            }

            OpenHgs.Crypto.OwnerOnlyFile.Replace(path, content);
            return;
        }

        OpenHgs.Crypto.OwnerOnlyFile.CreateNew(path, content);
    }

    /// <summary>Writes a public file, refusing to overwrite an existing one.</summary>
    public static void WritePublicFile(string path, ReadOnlySpan<byte> content)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.Write(content);
    }

    public static byte[] ReadFile(string path, string what, int maxBytes)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new CliException($"{what} '{path}' does not exist.");
        }

        if (info.Length > maxBytes)
        {
            throw new CliException($"{what} '{path}' is larger than {maxBytes} bytes.");
        }

        return File.ReadAllBytes(path);
    }
}
