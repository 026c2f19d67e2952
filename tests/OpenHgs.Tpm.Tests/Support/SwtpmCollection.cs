using OpenHgs.Tpm.Commands;

namespace OpenHgs.Tpm.Tests.Support;

[CollectionDefinition(Name)]
public sealed class SwtpmCollection : ICollectionFixture<SwtpmFixture>
{
    public const string Name = "swtpm";
}

/// <summary>Base for swtpm tests: after each test, asserts that no transient object or session is left in the TPM.</summary>
public abstract class SwtpmTestBase(SwtpmFixture swtpm) : IDisposable
{
    protected SwtpmFixture Swtpm { get; } = swtpm;

    public virtual void Dispose()
    {
        using var client = Swtpm.CreateClient();
        var leaked = client.GetHandles(TpmHandles.TransientFirst)
            .Concat(client.GetHandles(TpmHandles.HmacSessionFirst))
            .Concat(client.GetHandles(TpmHandles.PolicySessionFirst)).Distinct().ToList();
        foreach (var h in leaked)
        {
            client.TryFlushForTests(h);
        }
        Assert.True(leaked.Count == 0, $"handles left in the TPM: {string.Join(", ", leaked.Select(h => $"0x{h:x8}"))}");
        GC.SuppressFinalize(this);
    }
}

internal static class TpmClientTestExtensions
{
    public static void TryFlushForTests(this TpmClient client, uint handle)
    {
        try
        {
            client.FlushContext(handle);
        }
        catch (TpmException)
        {
        }
    }
}
