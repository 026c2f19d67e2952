using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary><c>hgs diagnose</c> reports each node's readiness and exits non-zero when any node is not ready.</summary>
public sealed class DiagnoseCliTests
{
    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Diagnose_reports_every_node_and_fails_when_one_is_unreachable(DatabaseKind database)
    {
        await using var service = await ServiceHarness.StartAsync(StoreKind.Software, database);
        using var closed = new ClosedPort();

        var healthy = await HgsCli.RunAsync(["diagnose", "--url", service.Url, "--json"], environment: null);
        healthy.Succeeded();
        var node = healthy.Json()[service.Url]!;
        Assert.Equal("ready", node["status"]!.GetValue<string>());
        Assert.Equal("ok", node["checks"]!["database"]!.GetValue<string>());
        Assert.Equal("ok", node["checks"]!["keyStore"]!.GetValue<string>());

        var mixed = await HgsCli.RunAsync(["diagnose", "--url", $"{service.Url},{closed.Url}", "--json"], environment: null);
        mixed.Expect(3);
        Assert.Equal("ready", mixed.Json()[service.Url]!["status"]!.GetValue<string>());
        Assert.Equal("unreachable", mixed.Json()[closed.Url]!["status"]!.GetValue<string>());
    }
}
