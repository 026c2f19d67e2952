using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Hosts;
using OpenHgs.Storage;

namespace OpenHgs.EndToEnd.Tests.Cli;

public sealed class HostPagesCliTestsOnSqlite() : HostPagesCliTests(DatabaseKind.Sqlite);

public sealed class HostPagesCliTestsOnPostgres() : HostPagesCliTests(DatabaseKind.Postgres);

/// <summary>
/// <c>GET /admin/v1/hosts</c> answers one page (design change 87); <c>hgs hosts list</c> walks every page and prints the
/// whole list as before, lines and <c>--json</c> array alike; a bad page query is refused naming its parameter.
/// </summary>
public abstract class HostPagesCliTests(DatabaseKind database) : OneHostServiceTests(database)
{
    [Fact]
    public async Task Hosts_list_prints_every_host_of_more_than_one_page_once_in_order()
    {
        // Three more hosts than the largest page, written as another node would (one transaction: seconds, not minutes).
        int extra = HostPageQuery.MaxLimit + 3;
        await Service.AsOtherNodeAsync(db => db.InTransactionAsync(async s =>
        {
            for (int i = 0; i < extra; i++)
            {
                string name = $"bulk-{i:D4}", thumbprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)));
                await s.Hosts.AddAsync(new HostRecord(name, "host-key", BitConverter.GetBytes(i), thumbprint, DateTimeOffset.UnixEpoch));
                await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.HostAdded, AuditOutcomes.Success, name, null, ("mode", "host-key"), ("keyThumbprint", thumbprint)));
            }

            return 0;
        }, CancellationToken.None));
        string[] expected = [.. Enumerable.Range(0, extra).Select(i => $"bulk-{i:D4}"), "host-a"];

        using var http = AdminHttp();
        var first = JsonNode.Parse(await http.GetStringAsync("/admin/v1/hosts"))!;
        Assert.Equal((HostPageQuery.MaxLimit, "bulk-0499", 504L), (first["hosts"]!.AsArray().Count, (string?)first["next"], (long)first["total"]!));

        var lines = (await RunAsync("hosts", "list")).Succeeded().StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected, lines.Select(l => l.Split(' ')[0]));
        Assert.Matches(@"^host-a\s+host-key\s+[0-9a-f]{16} \d{4}-", lines[^1]);

        var json = (await RunAsync("hosts", "list", "--json")).Succeeded().Json().AsArray();
        Assert.Equal(expected, json.Select(h => (string)h!["name"]!));
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=501", "limit")]
    [InlineData("limit=many", "limit")]
    [InlineData("after=", "after")]
    [InlineData("prefix=web%201", "prefix")]
    public async Task A_bad_page_query_is_refused_naming_the_parameter_and_changes_nothing(string query, string parameter)
    {
        long records = await Service.AuditCountAsync();
        using var http = AdminHttp();

        using var answer = await http.GetAsync("/admin/v1/hosts?" + query);

        Assert.Equal(400, (int)answer.StatusCode);
        var problem = JsonNode.Parse(await answer.Content.ReadAsStringAsync())!;
        Assert.Equal(HostPageQuery.InvalidCode, (string?)problem["code"]);
        Assert.StartsWith($"The host page query's '{parameter}' must be", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Equal(records, await Service.AuditCountAsync());
        Assert.Equal("host-a", (await Service.Admin.ListHostsAsync(CancellationToken.None)).Single().Name);
    }

    [Fact]
    public async Task A_changed_host_row_is_named_on_stderr_and_left_out_of_the_list()
    {
        await Service.AddHostAsync("host-b");
        await Service.ExecuteSqlAsync("UPDATE hosts SET added_at = added_at + 1 WHERE name = 'host-a'");

        var listed = (await RunAsync("hosts", "list")).Succeeded();

        Assert.Equal(["host-b"], listed.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));
        Assert.Equal(
            ["WARNING: host host-a is not listed (changed): The hosts row 'host-a' was changed outside OpenHGS (its MAC does not verify). See 'hgs audit rows'."],
            listed.ErrorLines);
        Assert.Equal(["host-b"], (await RunAsync("hosts", "list", "--json")).Succeeded().Json().AsArray().Select(h => (string)h!["name"]!));
    }

    private HttpClient AdminHttp()
    {
        var http = new HttpClient { BaseAddress = new Uri(Service.Url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Service.AdminToken);
        return http;
    }

    private Task<CliResult> RunAsync(params string[] args) =>
        HgsCli.RunAsync(args, new Dictionary<string, string?> { ["HGS_URL"] = Service.Url, ["HGS_ADMIN_TOKEN"] = Service.AdminToken });
}
