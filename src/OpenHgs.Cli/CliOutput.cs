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

    public static void Line(string text) => Console.Out.WriteLine(text);

    /// <summary>A security warning on stderr (so it is seen even with <c>--json</c> piped to a tool), one line.</summary>
    public static void Warning(string text) => Console.Error.WriteLine("WARNING: " + text);

    /// <summary>Writes a file that holds secrets (mode 0600), refusing to overwrite unless asked.</summary>
    public static void WriteSecretFile(string path, ReadOnlySpan<byte> content, bool overwrite = false)
    {
        if (File.Exists(path))
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
