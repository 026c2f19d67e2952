using Microsoft.Extensions.Logging;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Opens <c>pkcs11:</c> key stores, e.g.
/// <c>pkcs11:token=OpenHGS?module-path=/usr/lib/softhsm/libsofthsm2.so&amp;pin-source=env:HGS_HSM_PIN</c>.
/// </summary>
/// <remarks>
/// The PIN comes only from <c>pin-source</c> (<c>env:VAR</c> or <c>file:/path</c>), never from the URI itself.
/// Every configuration problem is a <see cref="KeyStoreConfigurationException"/> whose <c>Field</c> names the
/// URI attribute to fix (<c>module-path</c>, <c>token</c>, <c>slot-id</c>, <c>pin-source</c>, <c>module-env</c>).
/// <c>module-env=NAME=VALUE</c> (repeatable) sets an environment variable while the module loads, for client modules
/// configured only through their environment, such as p11-kit-client's <c>P11_KIT_SERVER_ADDRESS</c>; values never
/// appear in messages (see <see cref="Pkcs11ModuleEnvironment"/>).
/// </remarks>
public sealed class Pkcs11KeyStoreProvider : IKeyStoreProvider, IKeyStoreCoexistenceCheck
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
        return Pkcs11KeyStore.Open(location, pin, context.Loggers.CreateLogger<Pkcs11KeyStore>());
    }

    /// <summary>
    /// Refuses stores whose <c>module-env</c> is malformed, and stores that name the same module file (by device and
    /// inode: links count as the same file) with different <c>module-env</c>: a module loads once per process, so
    /// they would silently share one environment. Other problems of a single store (a missing module file, an unset
    /// PIN variable) are left to <see cref="Open"/>, which reports them when that store is opened.
    /// </summary>
    public void CheckOpenTogether(IReadOnlyList<(string Name, KeyStoreUri Uri)> stores)
    {
        ArgumentNullException.ThrowIfNull(stores);
        var byFile = new Dictionary<string, (string Name, string CanonicalPath, Pkcs11ModuleEnvironment Environment)>(StringComparer.Ordinal);
        foreach ((string name, KeyStoreUri uri) in stores)
        {
            _ = Pkcs11ModuleEnvironment.Parse(uri.GetAll(Pkcs11ModuleEnvironment.Field), name);
            Pkcs11StoreLocation location;
            try
            {
                location = Pkcs11StoreLocation.Parse(uri);
            }
            catch (KeyStoreConfigurationException)
            {
                continue;
            }

            string canonicalPath = Pkcs11Module.Canonicalize(location.ModulePath);
            string identity = ModuleFileIdentity.Of(canonicalPath);
            if (!byFile.TryGetValue(identity, out var first))
            {
                byFile.Add(identity, (name, canonicalPath, location.ModuleEnvironment));
            }
            else if (!first.Environment.SameAs(location.ModuleEnvironment))
            {
                throw Pkcs11Module.EnvironmentConflict(location.ModulePath, first.CanonicalPath, first.Name, first.Environment, name, location.ModuleEnvironment);
            }
        }
    }
}
