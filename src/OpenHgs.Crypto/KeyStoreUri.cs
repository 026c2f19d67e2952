using System.Text;

namespace OpenHgs.Crypto;

/// <summary>
/// A key store location in the style of RFC 7512: <c>scheme:name=value;name=value?name=value&amp;name=value</c>,
/// values percent-encoded. Path attributes identify the store (e.g. <c>token=</c>); query attributes say how
/// to reach it (e.g. <c>module-path=</c>, <c>pin-source=env:VAR</c>).
/// </summary>
/// <remarks>
/// Security contract: a key store URI never holds a PIN (<c>pin-value</c> is refused; PINs are named by a source).
/// Values of <c>module-env=NAME=VALUE</c> may still be sensitive, so <see cref="ToString"/> (used in every message and
/// log line) shows the variable names only, also inside a cluster's <c>member=</c> URIs; <see cref="Text"/> is the
/// URI as given, for opening and comparing, never for messages.
/// </remarks>
public sealed class KeyStoreUri
{
    /// <summary>
    /// Query attributes that may appear more than once (a cluster's <c>member=</c> list, a PKCS#11 module's
    /// <c>module-env=</c> variables). Every other attribute appearing twice is an error, so that a duplicated
    /// <c>token=</c> is reported instead of one silently winning.
    /// </summary>
    private static readonly string[] RepeatableAttributes = ["member", ModuleEnvironmentAttribute];

    /// <summary>
    /// <c>module-env=NAME=VALUE</c>: an environment variable a PKCS#11 module is loaded with. Its value is never shown
    /// by <see cref="ToString"/>.
    /// </summary>
    public const string ModuleEnvironmentAttribute = "module-env";

    /// <summary>A cluster's member URIs, which are redacted in turn.</summary>
    private const string MemberAttribute = "member";

    private readonly IReadOnlyList<KeyValuePair<string, string>> _queryList;

    private readonly string _display;

    private KeyStoreUri(string scheme, IReadOnlyDictionary<string, string> path, IReadOnlyDictionary<string, string> query,
        IReadOnlyList<KeyValuePair<string, string>> pathList, IReadOnlyList<KeyValuePair<string, string>> queryList, string text)
    {
        Scheme = scheme;
        PathAttributes = path;
        QueryAttributes = query;
        _queryList = queryList;
        Text = text;
        _display = Redact(scheme, pathList, queryList, text);
    }

    public string Scheme { get; }

    public IReadOnlyDictionary<string, string> PathAttributes { get; }

    public IReadOnlyDictionary<string, string> QueryAttributes { get; }

    /// <summary>
    /// The URI as given: for opening the store and comparing URIs. PINs are never in it, but <c>module-env</c> values
    /// are, so messages and logs use <see cref="ToString"/> instead.
    /// </summary>
    public string Text { get; }

    /// <summary>The URI for messages and logs: <see cref="Text"/> with every <c>module-env</c> value replaced by <c>***</c>.</summary>
    public override string ToString() => _display;

    /// <summary>Parses a key store URI; throws <see cref="KeyStoreConfigurationException"/> naming what is wrong.</summary>
    public static KeyStoreUri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            string shown = text.Contains(ModuleEnvironmentAttribute, StringComparison.OrdinalIgnoreCase) ? "the text given" : $"'{text}'";
            throw new KeyStoreConfigurationException("keyStore", $"{shown} is not a key store URI (expected e.g. 'software:' or 'pkcs11:token=NAME?module-path=PATH').");
        }

        string scheme = text[..colon].ToLowerInvariant();
        string rest = text[(colon + 1)..];
        int question = rest.IndexOf('?', StringComparison.Ordinal);
        string pathPart = question < 0 ? rest : rest[..question];
        string queryPart = question < 0 ? string.Empty : rest[(question + 1)..];
        var path = ParseAttributes(pathPart, ';', "path", repeatable: [], out var pathList);
        var query = ParseAttributes(queryPart, '&', "query", RepeatableAttributes, out var queryList);
        if (path.ContainsKey("pin-value") || query.ContainsKey("pin-value"))
        {
            throw new KeyStoreConfigurationException("pin-value", "PINs are never written into a key store URI; use pin-source=env:VARIABLE.");
        }

        return new KeyStoreUri(scheme, path, query, pathList, queryList, text);
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
        Get(name) ?? throw new KeyStoreConfigurationException(name, $"the key store URI '{this}' needs '{name}='.");

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

    /// <summary>
    /// <paramref name="text"/> unchanged when it holds no <c>module-env</c> (directly or in a <c>member=</c> URI); else
    /// the URI rebuilt with each such value shown as <c>NAME=***</c>.
    /// </summary>
    private static string Redact(string scheme, IReadOnlyList<KeyValuePair<string, string>> pathList,
        IReadOnlyList<KeyValuePair<string, string>> queryList, string text)
    {
        bool redacted = false;
        List<string> path = pathList.Select(Show).ToList();
        List<string> query = queryList.Select(Show).ToList();
        if (!redacted)
        {
            return text;
        }

        var sb = new StringBuilder(scheme).Append(':').AppendJoin(';', path);
        return (query.Count > 0 ? sb.Append('?').AppendJoin('&', query) : sb).ToString();

        string Show(KeyValuePair<string, string> attribute)
        {
            (string name, string value) = attribute;
            if (string.Equals(name, ModuleEnvironmentAttribute, StringComparison.Ordinal))
            {
                redacted = true;
                int eq = value.IndexOf('=', StringComparison.Ordinal);
                return eq < 0 ? $"{name}=***" : $"{name}={Encode(value[..eq])}=***";
            }

            if (string.Equals(name, MemberAttribute, StringComparison.Ordinal) && TryRedactMember(value) is { } member)
            {
                redacted = true;
                return $"{name}={Encode(member)}";
            }

            return $"{name}={Encode(value)}";
        }
    }

    /// <summary>The redacted form of a member URI when it differs from the member's text; null otherwise (or when it does not parse).</summary>
    private static string? TryRedactMember(string member)
    {
        try
        {
            KeyStoreUri parsed = Parse(member);
            return string.Equals(parsed._display, parsed.Text, StringComparison.Ordinal) ? null : parsed._display;
        }
        catch (KeyStoreConfigurationException)
        {
            // Reported by the cluster when it parses its members; a value that is no URI holds no module-env attribute.
            return member.Contains(ModuleEnvironmentAttribute, StringComparison.OrdinalIgnoreCase) ? "***" : null;
        }
    }

    private static string Encode(string value) =>
        Uri.EscapeDataString(value).Replace("%2F", "/", StringComparison.Ordinal).Replace("%3A", ":", StringComparison.Ordinal)
            .Replace("%2A", "*", StringComparison.Ordinal);
}
