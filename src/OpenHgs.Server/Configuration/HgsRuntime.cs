using OpenHgs.Crypto;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Crypto.Software;
using OpenHgs.Storage;
using OpenHgs.Storage.Sqlite;

namespace OpenHgs.Server.Configuration;

/// <summary>Opens the key store and database a data folder's configuration names.</summary>
public static class HgsRuntime
{
    public static KeyStoreRegistry KeyStores { get; } = new([new SoftwareKeyStoreProvider(), new Pkcs11KeyStoreProvider()]);

    public static IKeyStore OpenKeyStore(HgsConfiguration configuration, string dataDirectory, bool production)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return KeyStores.Open(configuration.KeyStore, new KeyStoreOpenContext(Path.GetFullPath(dataDirectory), production));
    }

    /// <summary>Database from its spec: <c>sqlite:FILE</c> (relative to the data folder).</summary>
    public static IHgsDatabase OpenDatabase(HgsConfiguration configuration, string dataDirectory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string spec = configuration.Database;
        if (spec.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            return new SqliteDatabase(Path.GetFullPath(spec["sqlite:".Length..], dataDirectory), time);
        }

        throw new HgsConfigurationException("database", $"Unknown database '{spec}': use sqlite:FILE.");
    }
}
