namespace OpenHgs.Crypto;

/// <summary>Chooses the backend for a key store URI from the providers the host registered.</summary>
public sealed class KeyStoreRegistry(IEnumerable<IKeyStoreProvider> providers)
{
    private readonly Dictionary<string, IKeyStoreProvider> _providers =
        providers.ToDictionary(p => p.Scheme, StringComparer.OrdinalIgnoreCase);

    /// <summary>Opens the store the URI names; unknown schemes are a configuration error naming the known ones.</summary>
    public IKeyStore Open(string uri, KeyStoreOpenContext context)
    {
        var parsed = KeyStoreUri.Parse(uri);
        return _providers.TryGetValue(parsed.Scheme, out var provider)
            ? provider.Open(parsed, context)
            : throw new KeyStoreConfigurationException("keyStore", $"unknown key store scheme '{parsed.Scheme}' (known: {string.Join(", ", _providers.Keys)}).");
    }
}
