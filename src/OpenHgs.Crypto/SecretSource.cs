namespace OpenHgs.Crypto;

/// <summary>Resolves a secret named by a source such as <c>env:VARIABLE</c> or <c>file:/path</c>.</summary>
public static class SecretSource
{
    /// <summary>Reads the secret; throws <see cref="KeyStoreConfigurationException"/> naming <paramref name="field"/> when absent.</summary>
    public static string Resolve(string field, string source, KeyStoreOpenContext context)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(context);
        if (source.StartsWith("env:", StringComparison.Ordinal))
        {
            string name = source[4..];
            return context.GetEnvironmentVariable(name) is { Length: > 0 } value
                ? value
                : throw new KeyStoreConfigurationException(field, $"environment variable '{name}' is not set.");
        }

        if (source.StartsWith("file:", StringComparison.Ordinal))
        {
            string path = source[5..];
            return File.Exists(path)
                ? File.ReadAllText(path).TrimEnd('\r', '\n')
                : throw new KeyStoreConfigurationException(field, $"file '{path}' does not exist.");
        }

        throw new KeyStoreConfigurationException(field, $"'{source}' is not a secret source (use env:VARIABLE or file:/path).");
    }
}
