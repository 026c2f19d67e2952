using OpenHgs.Client;
using OpenHgs.Crypto;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A test class over an in-process service of its own (software key store, the given database), started before each
/// test with one registered host-key host, <c>host-a</c>, and a raw protocol client; stopped after it.
/// </summary>
public abstract class OneHostServiceTests(DatabaseKind database) : IAsyncLifetime
{
    protected ServiceHarness Service { get; private set; } = null!;

    protected RawProtocol Raw { get; private set; } = null!;

    protected HostHarness Host { get; private set; } = null!;

    /// <summary>The host's key pair, for evidence the test builds itself.</summary>
    protected HostKeyPair Keys { get; private set; } = null!;

    /// <summary>Wraps the service's key store (e.g. to count its operations); none by default.</summary>
    protected virtual Func<IKeyStore, IKeyStore>? KeyStoreDecorator => null;

    public async Task InitializeAsync()
    {
        Service = await ServiceHarness.StartAsync(StoreKind.Software, database, keyStoreDecorator: KeyStoreDecorator);
        Raw = new RawProtocol(Service.Url);
        Host = await Service.AddHostAsync("host-a");
        Keys = HostKeyPair.Load(Host.KeyDirectory);
    }

    public async Task DisposeAsync()
    {
        Keys.Dispose();
        Raw.Dispose();
        await Service.DisposeAsync();
    }
}
