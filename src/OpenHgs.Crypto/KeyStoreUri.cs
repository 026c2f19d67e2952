using System.Text;

namespace OpenHgs.Crypto;

/// <summary>
/// A key store location in the style of RFC 7512: <c>scheme:name=value;name=value?name=value&amp;name=value</c>,
/// values percent-encoded. Path attributes identify the store (e.g. <c>token=</c>); query attributes say how
/// to reach it (e.g. <c>module-path=</c>, <c>pin-source=env:VAR</c>).
/// </summary>
public sealed class KeyStoreUri
{
    /// <summary>
    /// Query attributes that may appear more than once (a cluster's <c>member=</c> list). Every other attribute
    /// appearing twice is an error, so that a duplicated <c>token=</c> is reported instead of one silently winning.
    /// </summary>
    private static readonly string[] RepeatableAttributes = ["member"];

    private readonly IReadOnlyList<KeyValuePair<string, string>> _queryList;

    private KeyStoreUri(string scheme, IReadOnlyDictionary<string, string> path, IReadOnlyDictionary<string, string> query,
        IReadOnlyList<KeyValuePair<string, string>> queryList, string text)
    {
        Scheme = scheme;
        PathAttributes = path;
        QueryAttributes = query;
        _queryList = queryList;
        Text = text;
    }

    public string Scheme { get; }

    public IReadOnlyDictionary<string, string> PathAttributes { get; }

    public IReadOnlyDictionary<string, string> QueryAttributes { get; }

    /// <summary>The URI as given (it holds no secrets: PINs are named by a source, never embedded).</summary>
    public string Text { get; }

    public override string ToString() => Text;

    /// <summary>Parses a key store URI; throws <see cref="KeyStoreConfigurationException"/> naming what is wrong.</summary>
    public static KeyStoreUri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new KeyStoreConfigurationException("keyStore", $"'{text}' is not a key store URI (expected e.g. 'software:' or 'pkcs11:token=NAME?module-path=PATH').");
        }

        string scheme = text[..colon].ToLowerInvariant();
        string rest = text[(colon + 1)..];
        int question = rest.IndexOf('?', StringComparison.Ordinal);
        string pathPart = question < 0 ? rest : rest[..question];
        string queryPart = question < 0 ? string.Empty : rest[(question + 1)..];
        var path = ParseAttributes(pathPart, ';', "path", repeatable: [], out _);
        var query = ParseAttributes(queryPart, '&', "query", RepeatableAttributes, out var queryList);
        if (path.ContainsKey("pin-value") || query.ContainsKey("pin-value"))
        {
            throw new KeyStoreConfigurationException("pin-value", "PINs are never written into a key store URI; use pin-source=env:VARIABLE.");
        }

        return new KeyStoreUri(scheme, path, query, queryList, text);
    }

    /// <summary>Builds a URI from attributes, percent-encoding values.</summary>
    public static KeyStoreUri Create(string scheme, IEnumerable<KeyValuePair<string, string>> path, IEnumerable<KeyValuePair<string, string>>? query = null)
    {
        var sb = new StringBuilder(scheme).Append(':');
        sb.AppendJoin(';', path.Select(kv => $"{kv.Key}={Encode(kv.Value)}"));
        var queryList = query?.ToList() ?? [];
        if (queryList.Count > 0)
        {
            sb.Append('?').AppendJoin('&', queryList.Select(kv => $"{kv.Key}={Encode(kv.Value)}"));
        }

        return Parse(sb.ToString());
    }

    /// <summary>A required attribute (path first, then query), or a configuration error naming it.</summary>
    public string Require(string name) =>
        Get(name) ?? throw new KeyStoreConfigurationException(name, $"the key store URI '{Text}' needs '{name}='.");

    public string? Get(string name) =>
        PathAttributes.TryGetValue(name, out var v) ? v : QueryAttributes.TryGetValue(name, out var q) ? q : null;

    /// <summary>Every value of a repeatable query attribute (e.g. <c>member</c>), in order; <see cref="Get"/> returns the first.</summary>
    public IReadOnlyList<string> GetAll(string name) =>
        _queryList.Where(kv => string.Equals(kv.Key, name, StringComparison.Ordinal)).Select(kv => kv.Value).ToList();

    private static Dictionary<string, string> ParseAttributes(string part, char separator, string where, string[] repeatable,
        out List<KeyValuePair<string, string>> list)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        list = [];
        foreach (string item in part.Split(separator, StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new KeyStoreConfigurationException(item, $"key store URI {where} attribute '{item}' has no '=value'.");
            }

            string name = item[..eq].ToLowerInvariant();
            string value = Uri.UnescapeDataString(item[(eq + 1)..]);
            list.Add(new(name, value));
            if (!result.TryAdd(name, value) && !repeatable.Contains(name, StringComparer.Ordinal))
            {
                throw new KeyStoreConfigurationException(name, $"key store URI attribute '{name}' appears twice.");
            }
        }

        return result;
    }

    private static string Encode(string value) =>
        Uri.EscapeDataString(value).Replace("%2F", "/", StringComparison.Ordinal).Replace("%3A", ":", StringComparison.Ordinal);
}
