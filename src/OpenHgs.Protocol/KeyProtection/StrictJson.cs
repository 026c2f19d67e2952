using System.Text.Encodings.Web;
using System.Text.Json;

namespace OpenHgs.Protocol.KeyProtection;

/// <summary>What was wrong with the shape of a strictly read JSON document.</summary>
internal enum JsonShapeProblem
{
    /// <summary>Not JSON, wrong value type, duplicate member, value out of range.</summary>
    Malformed,

    /// <summary>A required member is absent.</summary>
    MissingField,

    /// <summary>A member the format does not define is present.</summary>
    UnknownField,
}

/// <summary>Thrown by <see cref="StrictJsonObject"/>; callers translate it into their own error enum.</summary>
internal sealed class JsonShapeException(JsonShapeProblem problem, string message) : Exception(message)
{
    public JsonShapeProblem Problem { get; } = problem;
}

/// <summary>
/// A JSON object read strictly: every member must be one the format names, no member may repeat, required
/// members must be present, and values must have the expected JSON type. Used for every document this
/// assembly parses from untrusted input (key protectors, guardian files).
/// </summary>
internal sealed class StrictJsonObject
{
    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 16,
    };

    private readonly Dictionary<string, JsonElement> _fields;
    private readonly string _path;

    private StrictJsonObject(Dictionary<string, JsonElement> fields, string path)
    {
        _fields = fields;
        _path = path;
    }

    /// <summary>Options for writers of these formats: no HTML escaping, so base64 and names read naturally.</summary>
    public static JsonWriterOptions WriterOptions(bool indented) => new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = indented,
        NewLine = "\n",
    };

    /// <summary>Parses UTF-8 JSON (valid UTF-8 throughout, no comments, no trailing commas, bounded depth).</summary>
    public static JsonDocument ParseDocument(ReadOnlyMemory<byte> utf8)
    {
        // JsonDocument checks string contents only when they are read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
        {
            throw new JsonShapeException(JsonShapeProblem.Malformed, "not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw new JsonShapeException(JsonShapeProblem.Malformed, $"not valid JSON ({ex.Message})");
        }

        // Valid UTF-8 can still escape an unpaired UTF-16 surrogate ("\udcca"), which JsonDocument also reports only
        // when the string is read, as InvalidOperationException (found by fuzzing): read every string once here.
        try
        {
            ReadEveryString(document.RootElement);
            return document;
        }
        catch (InvalidOperationException)
        {
            document.Dispose();
            throw new JsonShapeException(JsonShapeProblem.Malformed, "a string escapes an unpaired UTF-16 surrogate");
        }
    }

    private static void ReadEveryString(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    ReadEveryString(item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    ReadEveryString(property.Value);
                }

                break;
        }
    }

    /// <summary>Reads <paramref name="element"/> as an object with exactly the named members.</summary>
    public static StrictJsonObject From(JsonElement element, string path, IReadOnlyCollection<string> required, IReadOnlyCollection<string>? optional = null)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new JsonShapeException(JsonShapeProblem.Malformed, $"{path} must be a JSON object.");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!required.Contains(property.Name) && optional?.Contains(property.Name) != true)
            {
                throw new JsonShapeException(JsonShapeProblem.UnknownField, $"{path} has an unknown member '{property.Name}'.");
            }

            if (!fields.TryAdd(property.Name, property.Value))
            {
                throw new JsonShapeException(JsonShapeProblem.Malformed, $"{path} has member '{property.Name}' more than once.");
            }
        }

        foreach (string name in required)
        {
            if (!fields.ContainsKey(name))
            {
                throw new JsonShapeException(JsonShapeProblem.MissingField, $"{path} lacks the required member '{name}'.");
            }
        }

        return new StrictJsonObject(fields, path);
    }

    /// <summary>The raw value of a member the object was read with.</summary>
    public JsonElement GetElement(string name) => Get(name);

    public string GetString(string name) =>
        Get(name) is { ValueKind: JsonValueKind.String } value
            ? value.GetString()!
            : throw WrongType(name, "a string");

    public string? GetStringOrNull(string name) =>
        Get(name) switch
        {
            { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.String } value => value.GetString()!,
            _ => throw WrongType(name, "a string or null"),
        };

    public int GetInt32(string name) =>
        Get(name) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt32(out int result)
            ? result
            : throw WrongType(name, "an integer");

    public JsonElement GetArray(string name) =>
        Get(name) is { ValueKind: JsonValueKind.Array } value ? value : throw WrongType(name, "an array");

    public StrictJsonObject GetObject(string name, IReadOnlyCollection<string> required, IReadOnlyCollection<string>? optional = null) =>
        From(Get(name), $"{_path}.{name}", required, optional);

    /// <summary>Builds a shape error about member <paramref name="name"/> of this object.</summary>
    public JsonShapeException Invalid(string name, string problem) =>
        new(JsonShapeProblem.Malformed, $"{_path}.{name} {problem}");

    private JsonElement Get(string name) =>
        _fields.TryGetValue(name, out var value)
            ? value
            : throw new JsonShapeException(JsonShapeProblem.MissingField, $"{_path} lacks the member '{name}'.");

    private JsonShapeException WrongType(string name, string expected) => Invalid(name, $"must be {expected}.");
}
