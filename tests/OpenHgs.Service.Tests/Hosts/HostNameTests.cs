using System.Security.Cryptography;
using OpenHgs.Service.Hosts;
using OpenHgs.Service.Tests.Support;

namespace OpenHgs.Service.Tests.Hosts;

public sealed class SqliteHostNameTests() : HostNameTests(TestDatabase.Sqlite("host-names"));

/// <summary>
/// Host names are the whole of <c>[A-Za-z0-9][A-Za-z0-9._-]{0,252}</c> (design change 77): .NET's <c>$</c> also matches
/// before a final newline, so <c>host-a\n</c> passed the pattern and registered a second host that every listing, log
/// line and health certificate prints as <c>host-a</c>; removing <c>host-a</c> left it registered.
/// </summary>
public abstract class HostNameTests(TestDatabase db) : MigratedDatabaseTests(db)
{
    private HostRegistry Hosts => new(Database, TimeProvider.System);

    [Theory]
    [Trait("Attack", "A131")]
    [InlineData("host-a\n")]
    [InlineData("host-a\r\n")]
    [InlineData("\nhost-a")]
    public async Task A_name_that_prints_as_a_registered_hosts_name_is_refused_and_nothing_is_registered(string name)
    {
        await Hosts.AddHostKeyAsync("host-a", NewPublicKeyPem(), CancellationToken.None);

        var refused = await Assert.ThrowsAsync<ServiceException>(() => Hosts.AddHostKeyAsync(name, NewPublicKeyPem(), CancellationToken.None));

        Assert.Equal("HostNameInvalid", refused.Code);
        Assert.Equal(["host-a"], (await Hosts.ListPageAsync(new HostPageQuery(HostPageQuery.MaxLimit, null, null), CancellationToken.None)).Hosts.Select(h => h.Name));
    }

    [Fact]
    public void The_longest_and_shortest_names_still_pass()
    {
        HostRegistry.ValidateName("h");
        HostRegistry.ValidateName("h" + new string('.', 252));
        Assert.Equal("HostNameInvalid", Assert.Throws<ServiceException>(() => HostRegistry.ValidateName("h" + new string('.', 253))).Code);
    }

    private static string NewPublicKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportSubjectPublicKeyInfoPem();
    }
}
