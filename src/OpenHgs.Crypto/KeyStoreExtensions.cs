namespace OpenHgs.Crypto;

/// <summary>Convenience views of store keys as .NET algorithm objects.</summary>
public static class KeyStoreExtensions
{
    /// <summary>The key as an <see cref="KeyStoreRsa"/>; throws if missing or not RSA.</summary>
    public static KeyStoreRsa GetRsa(this IKeyStore store, string label)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = store.FindKey(label) ?? throw new KeyNotFoundInStoreException(label);
        return key.Algorithm.IsRsa() ? new KeyStoreRsa(store, key) : throw new KeyStoreOperationException($"Key '{label}' is {key.Algorithm}, not RSA.");
    }

    /// <summary>The key as an <see cref="KeyStoreECDsa"/>; throws if missing or not EC.</summary>
    public static KeyStoreECDsa GetECDsa(this IKeyStore store, string label)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = store.FindKey(label) ?? throw new KeyNotFoundInStoreException(label);
        return key.Algorithm.IsRsa() ? throw new KeyStoreOperationException($"Key '{label}' is {key.Algorithm}, not EC.") : new KeyStoreECDsa(store, key);
    }

    public static bool IsRsa(this KeyAlgorithm algorithm) =>
        algorithm is KeyAlgorithm.Rsa2048 or KeyAlgorithm.Rsa3072 or KeyAlgorithm.Rsa4096;

    public static int RsaBits(this KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.Rsa2048 => 2048,
        KeyAlgorithm.Rsa3072 => 3072,
        KeyAlgorithm.Rsa4096 => 4096,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "not an RSA key type"),
    };
}
