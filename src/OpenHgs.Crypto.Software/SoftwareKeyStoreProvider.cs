using Microsoft.Extensions.Logging;

namespace OpenHgs.Crypto.Software;

/// <summary>
/// Opens the embedded software key store: <c>software:path=DIR?key-file=FILE</c> or
/// <c>software:path=DIR?passphrase-source=env:VAR</c>, paths relative to the data folder.
/// Refused outright when the service runs in production: there, keys belong in an HSM.
/// </summary>
public sealed class SoftwareKeyStoreProvider : IKeyStoreProvider
{
    public const string DefaultUri = "software:path=keystore?key-file=keystore.key";

    public string Scheme => "software";

    public IKeyStore Open(KeyStoreUri uri, KeyStoreOpenContext context)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(context);
        if (context.Production)
        {
            throw new KeyStoreConfigurationException("keyStore",
                "the software key store is refused in --production: private keys must live in an HSM (configure a pkcs11: key store).");
        }

        string directory = Path.GetFullPath(uri.Get("path") ?? "keystore", context.DataDirectory);
        string? keyFile = uri.Get("key-file");
        string? passphraseSource = uri.Get("passphrase-source");
        if ((keyFile is null) == (passphraseSource is null))
        {
            throw new KeyStoreConfigurationException("key-file", "the software key store needs exactly one of key-file= or passphrase-source=.");
        }

        var sealing = keyFile is not null
            ? KeySealing.FromKeyFile(Path.GetFullPath(keyFile, context.DataDirectory))
            : KeySealing.FromPassphrase(SecretSource.Resolve("passphrase-source", passphraseSource!, context), directory);
        return new SoftwareKeyStore(directory, sealing, context.Loggers.CreateLogger<SoftwareKeyStore>());
    }
}
