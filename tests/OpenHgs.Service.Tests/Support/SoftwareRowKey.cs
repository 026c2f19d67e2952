using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.Service.Integrity;

namespace OpenHgs.Service.Tests.Support;

/// <summary>A real software key store (in its own temporary folder) holding the row-MAC key, for tests that open databases.</summary>
public sealed class SoftwareRowKey : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("openhgs-rowkey-").FullName;

    public SoftwareRowKey()
    {
        Store = new SoftwareKeyStoreProvider().Open(KeyStoreUri.Parse(SoftwareKeyStoreProvider.DefaultUri), new KeyStoreOpenContext(_directory, Production: false));
        Store.AsRecordAuthenticator()!.CreateMacKey(KeyStoreRowAuthenticator.MacKeyLabel);
        Authenticator = new KeyStoreRowAuthenticator(Store);
    }

    public IKeyStore Store { get; }

    public KeyStoreRowAuthenticator Authenticator { get; }

    public void Dispose()
    {
        Store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
