using System.Text.Json;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Hosting;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>One client address flooding the unauthenticated routes is answered 429 before any work; admin routes are not limited.</summary>
public sealed class RateLimitTestsOnSqlite() : RateLimitTests(DatabaseKind.Sqlite);

/// <summary>The same with the cluster database.</summary>
public sealed class RateLimitTestsOnPostgres() : RateLimitTests(DatabaseKind.Postgres);

public abstract class RateLimitTests(DatabaseKind database) : IAsyncLifetime
{
    private const int Requests = 30;
    private ServiceHarness _service = null!;

    public async Task InitializeAsync() =>
        _service = await ServiceHarness.StartAsync(StoreKind.Software, database, rateLimit: new ClientRateLimit(PerSecond: 1, Burst: 3));

    public async Task DisposeAsync() => await _service.DisposeAsync();

    [Fact]
    [Trait("Attack", "A30")]
    public async Task Burst_over_the_limit_gets_429_with_retry_after_and_issues_no_nonce()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_service.Url) };
        int limited = 0;
        for (int i = 0; i < Requests; i++)
        {
            using var response = await http.PostAsync("attestation/v1/challenge", null);
            if ((int)response.StatusCode == 429)
            {
                limited++;
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.Equal("RateLimited", problem.RootElement.GetProperty("code").GetString());
                Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After names a wait");
            }
            else
            {
                Assert.Equal(200, (int)response.StatusCode);
            }
        }

        // 3 in the burst plus one per second elapsed; the rest were refused before any nonce was made (and a challenge
        // writes nothing in any case: it is stateless).
        Assert.True(limited > 0, "a burst of 30 from one address exceeds 3 + 1/s");
        Assert.Equal(0, await _service.ExecuteSqlAsync("SELECT COUNT(*) FROM used_nonces"));

        // The same address is still served on the admin routes, and is limited on /keyprotection/v1 too.
        for (int i = 0; i < Requests; i++)
        {
            Assert.Empty(await _service.Admin.ListHostsAsync(CancellationToken.None));
        }

        var statuses = new List<int>();
        for (int i = 0; i < Requests; i++)
        {
            using var metadata = await http.GetAsync("keyprotection/v1/metadata");
            statuses.Add((int)metadata.StatusCode);
        }

        Assert.Contains(429, statuses);
    }
}
