namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Opens <c>pkcs11:</c> key stores, e.g.
/// <c>pkcs11:token=OpenHGS?module-path=/usr/lib/softhsm/libsofthsm2.so&amp;pin-source=env:HGS_HSM_PIN</c>.
/// </summary>
/// <remarks>
/// The PIN comes only from <c>pin-source</c> (<c>env:VAR</c> or <c>file:/path</c>), never from the URI itself.
/// Every configuration problem is a <see cref="KeyStoreConfigurationException"/> whose <c>Field</c> names the
/// URI attribute to fix (<c>module-path</c>, <c>token</c>, <c>slot-id</c>, <c>pin-source</c>).
/// </remarks>
public sealed class Pkcs11KeyStoreProvider : IKeyStoreProvider
{
    /// <summary>The URI scheme, <c>pkcs11</c>.</summary>
    public const string SchemeName = "pkcs11";

    public string Scheme => SchemeName;

    public IKeyStore Open(KeyStoreUri uri, KeyStoreOpenContext context) => OpenStore(uri, context);

    /// <summary>Like <see cref="Open"/>, typed, for callers that need PKCS#11 specifics such as <see cref="Pkcs11KeyStore.TokenDescription"/>.</summary>
    public Pkcs11KeyStore OpenStore(KeyStoreUri uri, KeyStoreOpenContext context)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(context);
        Pkcs11StoreLocation location = Pkcs11StoreLocation.Parse(uri);
        string pin = SecretSource.Resolve("pin-source", location.PinSource, context);
        return Pkcs11KeyStore.Open(location, pin);
    }
}
