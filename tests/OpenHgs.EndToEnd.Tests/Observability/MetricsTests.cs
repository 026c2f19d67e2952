using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Observability;

/// <summary>
/// <c>hgs server run --metrics</c>: a real flow (attest, release, and refusals of both) moves the Prometheus counters
/// by outcome and code; the admin endpoint needs the admin credential; labels never carry host names.
/// </summary>
/// <remarks>
/// Runs alone: .NET's meter listeners are process-wide, so an in-process service of a test running in parallel
/// publishes into the same-named instruments and moves these counters (seen as 2 attestations where 1 was made).
/// </remarks>
[Collection(nameof(MetricsTests))]
public sealed partial class MetricsTests
{
    [Fact]
    public async Task A_flow_moves_the_counters_by_outcome_and_code()
    {
        await using var service = await ServiceHarness.StartAsync(metrics: MetricsExposure.Admin);
        using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await service.FabricGuardianAsync());
        var host = await service.AddHostAsync("host-metrics-1");
        var stranger = await service.AddHostAsync("stranger-host", register: false);
        var before = await ScrapeAsync(http, service.AdminToken);

        using (var client = host.Client())
        {
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
            Assert.Equal(transportKey, (await client.UnlockAsync(protector.ToJson(), CancellationToken.None)).TransportKey);
        }

        using (var client = stranger.Client())
        {
            var refused = await client.AttestAsync(CancellationToken.None);
            Assert.False(refused.Passed);
            Assert.Equal("HostKeyNotRegistered", refused.Response.Reasons[0].Code);
        }

        using var raw = new RawProtocol(service.Url);
        var garbage = await raw.ReleaseAsync(protector.ToJson(), Encoding.ASCII.GetBytes("not a certificate"));
        Assert.Equal("HealthCertificateMalformed", garbage.Code);

        var after = await ScrapeAsync(http, service.AdminToken);
        double Moved(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

        Assert.Equal(1, Moved("hgs_attestations_total{code=\"None\",outcome=\"passed\"}"));
        Assert.Equal(1, Moved("hgs_attestations_total{code=\"HostKeyNotRegistered\",outcome=\"refused\"}"));
        Assert.Equal(1, Moved("hgs_releases_total{code=\"None\",outcome=\"released\"}"));
        Assert.Equal(1, Moved("hgs_releases_total{code=\"HealthCertificateMalformed\",outcome=\"refused\"}"));
        Assert.Equal(2, Moved("hgs_attestation_duration_seconds_count{outcome=\"passed\"}") + Moved("hgs_attestation_duration_seconds_count{outcome=\"refused\"}"));
        Assert.Equal(2, Moved("hgs_release_duration_seconds_count{outcome=\"released\"}") + Moved("hgs_release_duration_seconds_count{outcome=\"refused\"}"));
        // The health certificate is signed in the key store; the release decrypts (software store: in memory) with it.
        Assert.True(Moved("hgs_keystore_operation_duration_seconds_count{operation=\"sign\",outcome=\"ok\"}") >= 1);
        Assert.True(Moved("hgs_keystore_operation_duration_seconds_count{operation=\"decrypt\",outcome=\"ok\"}") >= 1,
            string.Join('\n', after.Keys.Where(k => k.StartsWith("hgs_keystore_operation_duration_seconds_count", StringComparison.Ordinal))));
        // Both releases (granted and refused) left their audit record through the group-committing writer (attestations
        // commit theirs in their own transaction).
        Assert.True(Moved("hgs_audit_records_total") >= 2);
        Assert.True(Moved("hgs_audit_commit_duration_seconds_count{outcome=\"ok\"}") >= 1);
        Assert.True(Moved("hgs_database_operation_duration_seconds_count{operation=\"transaction\",outcome=\"ok\"}") >= 1);
        Assert.Contains("hgs_audit_queue_depth", after.Keys);
        Assert.DoesNotContain(after.Keys, k => k.StartsWith("hgs_database_errors_total", StringComparison.Ordinal));

        // Closed label sets: no host name, key label or subject in any series.
        Assert.DoesNotContain(after.Keys, k => k.Contains("host-metrics-1", StringComparison.Ordinal) || k.Contains("stranger", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Attack", "A85")]
    public async Task The_admin_metrics_endpoint_needs_the_admin_credential_and_is_absent_when_off()
    {
        await using (var service = await ServiceHarness.StartAsync(metrics: MetricsExposure.Admin))
        {
            using var http = new HttpClient { BaseAddress = new Uri(service.Url) };
            using var anonymous = await http.GetAsync(new Uri(MetricsExposure.Path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("\"code\":\"AdminCredentialRequired\"", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.DoesNotContain("hgs_", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            using var wrong = new HttpRequestMessage(HttpMethod.Get, MetricsExposure.Path);
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");
            using var refused = await http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        await using (var off = await ServiceHarness.StartAsync())
        {
            using var http = new HttpClient { BaseAddress = new Uri(off.Url) };
            using var request = new HttpRequestMessage(HttpMethod.Get, MetricsExposure.Path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", off.AdminToken);
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_separate_loopback_listener_serves_the_scrape_and_not_the_service()
    {
        int port = ServerProcess.FreePort();
        await using var service = await ServiceHarness.StartAsync(metrics: MetricsExposure.Parse($"http://127.0.0.1:{port}"));
        var host = await service.AddHostAsync("host-l");
        using (var client = host.Client())
        {
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        }

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var series = Parse(await http.GetStringAsync(new Uri(MetricsExposure.Path, UriKind.Relative)));
        Assert.Equal(1, series["hgs_attestations_total{code=\"None\",outcome=\"passed\"}"]);

        // The listener is only the scrape: no service route answers there.
        using var challenge = await http.PostAsync(new Uri("/attestation/v1/challenge", UriKind.Relative), null);
        Assert.NotEqual(HttpStatusCode.OK, challenge.StatusCode);
        // And the service's own listeners have no /metrics in this mode.
        using var main = new HttpClient { BaseAddress = new Uri(service.Url) };
        using var request = new HttpRequestMessage(HttpMethod.Get, MetricsExposure.Path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", service.AdminToken);
        using var response = await main.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("http://0.0.0.0:9464")]
    [InlineData("http://10.1.2.3:9464")]
    [InlineData("https://127.0.0.1:9464")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://127.0.0.1:9464/other")]
    [InlineData("prometheus")]
    [InlineData("")]
    public void Metrics_exposures_other_than_off_admin_or_a_loopback_listener_are_refused(string text)
    {
        var refused = Assert.Throws<HgsConfigurationException>(() => MetricsExposure.Parse(text));
        Assert.Equal("metrics", refused.Field);
    }

    private static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient http, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, MetricsExposure.Path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType ?? "", StringComparison.Ordinal);
        return Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Prometheus text format: series (name and labels sorted by name, without the exporter's otel_scope labels) to value.</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var match = SeriesLine().Match(line);
            Assert.True(match.Success, $"not a Prometheus sample line: {line}");
            string name = match.Groups["name"].Value;
            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .Select(m => (Name: m.Groups[1].Value, Value: m.Groups[2].Value))
                .Where(l => !l.Name.StartsWith("otel_scope", StringComparison.Ordinal))
                .OrderBy(l => l.Name, StringComparer.Ordinal)
                .Select(l => $"{l.Name}=\"{l.Value}\"")
                .ToList();
            string key = labels.Count == 0 ? name : $"{name}{{{string.Join(',', labels)}}}";
            series[key] = series.GetValueOrDefault(key) + double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return series;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$")]
    private static partial Regex SeriesLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex LabelPair();
}

/// <summary>The metrics tests' collection: not run in parallel with any other test (see <see cref="MetricsTests"/>).</summary>
[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsTestsCollection;
