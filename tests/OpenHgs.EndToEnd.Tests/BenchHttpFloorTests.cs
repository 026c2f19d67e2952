using System.Net;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Endpoints;
using OpenHgs.Server.Hosting;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>
/// The bench's HTTP floor endpoint (bench/README.md): an unauthenticated route that answers any size asked for, so it
/// must not exist unless the bench switches it on, and a production start must refuse the switch by name.
/// </summary>
public sealed class BenchHttpFloorTests
{
    [Fact]
    public async Task The_floor_endpoint_does_not_exist_by_default()
    {
        await using var service = await ServiceHarness.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        using var response = await http.PostAsync("bench/v1/floor?bytes=100", new ByteArrayContent(new byte[10]));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Switched_on_it_reads_the_body_and_answers_exactly_the_bytes_asked_for()
    {
        await using var service = await ServiceHarness.StartAsync(benchHttpFloor: true);
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        foreach (int bytes in new[] { 0, 5, 3_000 })
        {
            using var content = new ByteArrayContent(new byte[4_000]);
            content.Headers.ContentType = new("application/json");
            using var response = await http.PostAsync($"bench/v1/floor?bytes={bytes}", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(bytes, (await response.Content.ReadAsByteArrayAsync()).Length);
        }

        using var tooLarge = await http.PostAsync($"bench/v1/floor?bytes={BenchFloorEndpoints.MaxBytes + 1}", null);
        Assert.Equal(HttpStatusCode.BadRequest, tooLarge.StatusCode);
    }

    [Fact]
    public async Task Production_refuses_to_start_with_the_floor_naming_the_variable()
    {
        // Checked before the data folder is read, so none is needed.
        var error = await Assert.ThrowsAsync<HgsConfigurationException>(() => HgsServer.BuildAsync(new HgsServerOptions
        {
            DataDirectory = Path.Combine(Path.GetTempPath(), "openhgs-no-such-folder"),
            Urls = ["http://127.0.0.1:0"],
            Production = true,
            BenchHttpFloor = true,
        }, CancellationToken.None));
        Assert.Equal(BenchFloorEndpoints.Variable, error.Field);
        Assert.Contains("OPENHGS_BENCH_HTTP_FLOOR is set", error.Message, StringComparison.Ordinal);
        Assert.Contains("--production refuses it", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("1", true)]
    [InlineData("TRUE", true)]
    public void The_variable_switches_it_on_only_with_1_or_true(string? value, bool on) => Assert.Equal(on, BenchFloorEndpoints.IsOn(value));

    [Fact]
    public void Another_value_is_a_configuration_error_naming_the_variable() =>
        Assert.Equal(BenchFloorEndpoints.Variable, Assert.Throws<HgsConfigurationException>(() => BenchFloorEndpoints.IsOn("yes")).Field);
}
