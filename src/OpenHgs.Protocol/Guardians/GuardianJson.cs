using System.Text.Json;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.Protocol.Guardians;

/// <summary>Strict reading of guardian documents, translating shape problems into <see cref="GuardianFormatError"/>s.</summary>
internal static class GuardianJson
{
    public static JsonDocument Parse(string json) =>
        Translate(() => StrictJsonObject.ParseDocument(System.Text.Encoding.UTF8.GetBytes(json)));

    /// <summary>
    /// Reads a guardian document object: first its <c>kind</c> and <c>version</c> (so a future version is reported
    /// as such, not as unknown members), then every member strictly.
    /// </summary>
    public static StrictJsonObject Read(JsonElement element, string path, string kind, IReadOnlyCollection<string> members)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            if (element.TryGetProperty("kind", out var kindValue) && kindValue.ValueKind == JsonValueKind.String && kindValue.GetString() != kind)
            {
                throw new GuardianFormatException(GuardianFormatError.WrongKind, $"{path} is a '{kindValue.GetString()}' document, not '{kind}'.");
            }

            if (element.TryGetProperty("version", out var version) && version.ValueKind == JsonValueKind.Number
                && !(version.TryGetInt32(out int v) && v == GuardianMetadata.CurrentVersion))
            {
                throw new GuardianFormatException(GuardianFormatError.UnsupportedVersion, $"{path} has version {version.GetRawText()}; this code reads version {GuardianMetadata.CurrentVersion}.");
            }
        }

        var fields = Translate(() => StrictJsonObject.From(element, path, members));
        Translate(() =>
        {
            if (fields.GetString("kind") != kind)
            {
                throw fields.Invalid("kind", $"must be '{kind}'.");
            }

            if (fields.GetInt32("version") != GuardianMetadata.CurrentVersion)
            {
                throw fields.Invalid("version", $"must be {GuardianMetadata.CurrentVersion}.");
            }
        });
        return fields;
    }

    /// <summary>A member holding canonical standard base64 (<see cref="CanonicalBase64"/>: no whitespace, correct padding).</summary>
    public static byte[] Base64(StrictJsonObject fields, string name)
    {
        string text = Translate(() => fields.GetString(name));
        return CanonicalBase64.TryDecode(text, out byte[]? data)
            ? data
            : throw new GuardianFormatException(GuardianFormatError.InvalidBase64, $"Member '{name}' is not canonical base64 (whitespace, wrong padding, another alphabet or non-zero padding bits).");
    }

    public static void Translate(Action action) => Translate(() =>
    {
        action();
        return true;
    });

    public static T Translate<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (JsonShapeException ex)
        {
            var error = ex.Problem switch
            {
                JsonShapeProblem.MissingField => GuardianFormatError.MissingField,
                JsonShapeProblem.UnknownField => GuardianFormatError.UnknownField,
                _ => GuardianFormatError.Malformed,
            };
            throw new GuardianFormatException(error, ex.Message, ex);
        }
    }
}
