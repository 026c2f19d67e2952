using OpenHgs.Server.Configuration;

namespace OpenHgs.EndToEnd.Tests.Tls;

/// <summary>The listener and TLS settings checks that run before the service touches its key store or database.</summary>
public sealed class ListenSettingsTests
{
    private static readonly TlsSettings Pem = new() { CertificateFile = "/etc/hgs/server.pem", KeyFile = "/etc/hgs/server.key" };

    [Theory]
    [InlineData("https://0.0.0.0:8443", true, "0.0.0.0", 8443, false)]
    [InlineData("http://127.0.0.1:8080", false, "127.0.0.1", 8080, true)]
    [InlineData("http://127.3.2.1:8080/", false, "127.3.2.1", 8080, true)]
    [InlineData("http://[::1]:8080", false, "::1", 8080, true)]
    [InlineData("http://[::]:8080", false, "::", 8080, false)]
    [InlineData("http://localhost:8080", false, "localhost", 8080, true)]
    [InlineData("http://*:8080", false, "*", 8080, false)]
    [InlineData("https://hgs1.example", true, "hgs1.example", 443, false)]
    public void Listen_urls_parse_like_kestrel_binds_them(string text, bool https, string host, int port, bool loopback)
    {
        var url = ListenUrl.Parse(text);
        Assert.Equal((https, host, port, loopback), (url.Https, url.Host, url.Port, url.IsLoopback));
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:21", "not an http:// or https:// URL")]
    [InlineData("http://127.0.0.1:99999", "is not a port number")]
    [InlineData("http://127.0.0.1:80/api", "has no path")]
    [InlineData("http://[::1:80", "no closing ']'")]
    public void Unusable_listen_urls_are_configuration_errors(string text, string why)
    {
        var error = Assert.Throws<HgsConfigurationException>(() => ListenUrl.Parse(text));
        Assert.Equal("urls", error.Field);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [Trait("Attack", "A62")]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://10.0.0.5:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://hgs1.example:8080")]
    public void Production_refuses_plain_http_beyond_loopback_naming_the_url(string url)
    {
        var error = Assert.Throws<HgsConfigurationException>(() => ListenUrl.ParseAll(["https://0.0.0.0:8443", url], Pem, production: true));
        Assert.Contains($"'{url}'", error.Message, StringComparison.Ordinal);
        // Without --production the same listener is allowed (development).
        Assert.Equal(2, ListenUrl.ParseAll(["https://0.0.0.0:8443", url], Pem, production: false).Count);
    }

    [Fact]
    public void Production_allows_https_and_loopback_http()
    {
        Assert.Equal(3, ListenUrl.ParseAll(["https://0.0.0.0:8443", "http://127.0.0.1:8080", "http://localhost:8081"], Pem, production: true).Count);
        Assert.Single(ListenUrl.ParseAll(["http://127.0.0.1:8080"], null, production: true));
    }

    [Fact]
    public void Https_needs_a_certificate_and_a_certificate_needs_https()
    {
        Assert.Contains("no server certificate is configured", Assert.Throws<HgsConfigurationException>(() => ListenUrl.ParseAll(["https://127.0.0.1:8443"], null, false)).Message, StringComparison.Ordinal);
        Assert.Contains("no --urls entry is https://", Assert.Throws<HgsConfigurationException>(() => ListenUrl.ParseAll(["http://127.0.0.1:8080"], Pem, false)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/s.pem", "/s.key", "/s.p12", null, null, null, "not both")]
    [InlineData("/s.pem", null, null, null, null, null, "--tls-cert needs --tls-key")]
    [InlineData(null, null, null, "env:PW", null, null, "--tls-pfx-password-env needs --tls-pfx")]
    [InlineData(null, null, "/s.p12", "file:/pw", null, null, "is not env:VAR")]
    [InlineData("/s.pem", "/s.key", null, null, null, "client-cert", "needs --admin-client-ca")]
    [InlineData("/s.pem", "/s.key", null, null, "/ca.pem", "token", "ignores client certificates")]
    [InlineData(null, null, null, null, "/ca.pem", null, "needs a server certificate")]
    [InlineData("/s.pem", "/s.key", null, null, "/ca.pem", "certificate", "is not one of token, client-cert, both")]
    public void Inconsistent_tls_settings_are_refused(string? certificate, string? key, string? pfx, string? password, string? ca, string? auth, string why)
    {
        var settings = new TlsSettings { CertificateFile = certificate, KeyFile = key, PfxFile = pfx, PfxPasswordSource = password, AdminClientCaFile = ca, AdminAuth = auth };
        Assert.Contains(why, Assert.Throws<HgsConfigurationException>(settings.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Admin_authentication_defaults_to_both_with_an_admin_ca_and_to_the_token_without()
    {
        Assert.Equal(AdminAuthMode.Token, Pem.AdminAuthMode);
        Assert.Equal(AdminAuthMode.Both, (Pem with { AdminClientCaFile = "/ca.pem" }).AdminAuthMode);
        Assert.Equal(AdminAuthMode.ClientCertificate, (Pem with { AdminClientCaFile = "/ca.pem", AdminAuth = "client-cert" }).AdminAuthMode);
    }
}
