using System.Net;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Tls;

/// <summary>
/// The admin credential never leaves the admin's machine in clear (design change 76): a bearer token bound for a plain
/// http:// URL beyond loopback is refused before anything is sent, because an http request writes its headers before
/// the server can answer (a mistyped scheme, even against an https-only server, would hand the token to the path).
/// </summary>
public sealed class AdminCredentialTransportTests
{
    [Theory]
    [Trait("Attack", "A130")]
    [InlineData("http://hgs1.example:8443")]
    [InlineData("http://10.0.0.5:8443")]
    [InlineData("https://hgs1.example:8443,http://hgs2.example:8443")]
    public async Task The_admin_token_is_never_sent_over_plain_http_beyond_loopback(string urls)
    {
        var wire = new RecordingHandler();
        using var client = new FailoverHttpClient(urls.Split(','), handler: wire) { BearerToken = "hgsadm_secret" };

        var refusal = await Assert.ThrowsAsync<HgsClientException>(() => client.SendAsync(HttpMethod.Get, "admin/v1/keys", null, CancellationToken.None));

        Assert.Equal("AdminCredentialNeedsHttps", refusal.Code);
        Assert.Empty(wire.Sent);   // nothing went to any URL, not even the https one
    }

    [Theory]
    [InlineData("https://hgs1.example:8443")]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("http://[::1]:8080")]
    [InlineData("http://localhost:8080")]
    public async Task The_admin_token_goes_over_https_and_to_loopback_http(string url)
    {
        var wire = new RecordingHandler();
        using var client = new FailoverHttpClient([url], handler: wire) { BearerToken = "hgsadm_secret" };

        using var response = await client.SendAsync(HttpMethod.Get, "admin/v1/keys", null, CancellationToken.None);

        var sent = Assert.Single(wire.Sent);
        Assert.Equal("Bearer hgsadm_secret", sent);
    }

    [Fact]
    public async Task Host_routes_without_a_token_may_use_plain_http()
    {
        // Hosts send no credential (their evidence is signed and their keys come back wrapped); only the bearer is refused.
        var wire = new RecordingHandler();
        using var client = new FailoverHttpClient(["http://hgs1.example:8443"], handler: wire);

        using var response = await client.SendAsync(HttpMethod.Get, "attestation/v1/challenge", null, CancellationToken.None);

        Assert.Equal("(none)", Assert.Single(wire.Sent));
    }

    [Fact]
    [Trait("Attack", "A130")]
    public async Task The_admin_cli_refuses_a_plain_http_url_beyond_loopback_as_bad_input()
    {
        string line = (await HgsCli.RunAsync(["keys", "list", "--url", "http://hgs1.invalid:8443", "--token", "hgsadm_secret"], new Dictionary<string, string?>()))
            .FailedWithOneErrorLine(2);

        Assert.StartsWith("error: AdminCredentialNeedsHttps:", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hgsadm_secret", line, StringComparison.Ordinal);
    }

    /// <summary>Stands for the network: records each request's Authorization header and answers 200.</summary>
    private sealed class RecordingHandler : HttpMessageHandler
    {
        public List<string> Sent { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Sent.Add(request.Headers.Authorization?.ToString() ?? "(none)");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("[]") });
        }
    }
}
