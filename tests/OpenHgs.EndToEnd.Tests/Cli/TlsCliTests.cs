using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// TLS everywhere (issue 8 §3), with the real <c>hgs</c> CLI against a real <c>hgs server run</c> serving https on
/// 127.0.0.1: hosts attest and unlock over https trusting exactly the fabric CA, a certificate from another CA is
/// refused by name, admin routes need a client certificate from the admin CA, a rotated certificate reaches new
/// connections without a restart, and <c>--production</c> refuses plain HTTP beyond loopback.
/// </summary>
public sealed class TlsCliTestsOnSqlite(TlsServerFixture fixture) : TlsCliTests(fixture), IClassFixture<TlsServerFixture>;

/// <summary>The same on PostgreSQL.</summary>
public sealed class TlsCliTestsOnPostgres(PostgresTlsServerFixture fixture) : TlsCliTests(fixture), IClassFixture<PostgresTlsServerFixture>;

public abstract class TlsCliTests(TlsServerFixture fixture)
{
    [Fact]
    public async Task A_host_attests_and_unlocks_over_https_trusting_the_fabric_ca()
    {
        string work = fixture.NewFolder("flow");
        string P(string name) => Path.Combine(work, name);
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("keys"))).Succeeded().StdOut.Trim();
        (await fixture.RunAsync("hosts", "add-key", "--name", "tls-host", "--public-key", publicKey)).Succeeded();
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", P("owner.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();

        // --ca-cert with a plain http URL is refused: it would send the release answer in clear.
        string plain = fixture.Url.Replace("https://", "http://", StringComparison.Ordinal);
        var mixed = await HgsCli.RunAsync("client", "configure", "--state", P("mixed"), "--attestation-url", plain, "--key-protection-url", fixture.Url, "--host-key", P("keys"), "--ca-cert", fixture.FabricCaFile);
        Assert.Contains("ConfigurationInvalid", mixed.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        string state = P("state");
        (await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", fixture.Url, "--key-protection-url", fixture.Url, "--host-key", P("keys"), "--ca-cert", fixture.FabricCaFile)).Succeeded();
        var status = (await HgsCli.RunAsync("client", "status", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal(fixture.FabricCaFile, (string?)status["caCertificate"]);

        // attest and unlock are not told the CA again: the state carries it.
        var attest = (await HgsCli.RunAsync("client", "attest", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attest["status"]);
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", P("vm.kp"), "--out", P("unlocked.tk"))).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(P("vm.tk")), await File.ReadAllBytesAsync(P("unlocked.tk")));
    }

    [Fact]
    [Trait("Attack", "A60")]
    public async Task A_client_refuses_a_server_certificate_that_does_not_chain_to_its_ca()
    {
        string work = fixture.NewFolder("wrong-ca");
        string P(string name) => Path.Combine(work, name);
        (await HgsCli.RunAsync("client", "keygen", "--out", P("keys"))).Succeeded();
        (await HgsCli.RunAsync("client", "configure", "--state", P("state"), "--attestation-url", fixture.Url, "--key-protection-url", fixture.Url, "--host-key", P("keys"), "--ca-cert", fixture.OtherCaFile)).Succeeded();

        string attest = (await HgsCli.RunAsync("client", "attest", "--state", P("state"))).FailedWithOneErrorLine(3);
        Assert.StartsWith("error: ServerCertificateRejected:", attest, StringComparison.Ordinal);
        Assert.Contains($"does not chain to the CA in {fixture.OtherCaFile}", attest, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(P("state"), ClientConfiguration.HealthCertificateFile)));

        // The admin CLI likewise, with the wrong CA and with the system roots (which do not hold the test CA).
        string admin = (await HgsCli.RunAsync(["keys", "list"], fixture.EnvironmentWith(("HGS_CACERT", fixture.OtherCaFile)))).FailedWithOneErrorLine(3);
        Assert.Contains("ServerCertificateRejected", admin, StringComparison.Ordinal);
        Assert.Contains("does not chain to the CA in", admin, StringComparison.Ordinal);
        string system = (await HgsCli.RunAsync(["keys", "list"], fixture.EnvironmentWith(("HGS_CACERT", null)))).FailedWithOneErrorLine(3);
        Assert.Contains("ServerCertificateRejected", system, StringComparison.Ordinal);
        Assert.Contains("does not chain to a CA this machine trusts", system, StringComparison.Ordinal);

        // Control: the same command trusting the fabric CA succeeds.
        (await fixture.RunAsync("keys", "list")).Succeeded();
    }

    [Fact]
    [Trait("Attack", "A59")]
    public async Task Admin_routes_need_a_client_certificate_from_the_admin_ca_and_the_token()
    {
        // Without a client certificate: 401 with its code; host and tenant routes still answer.
        using (var anonymous = Http(null, null))
        {
            Assert.Equal((401, "AdminClientCertificateRequired"), await GetAsync(anonymous, "admin/v1/settings", fixture.AdminToken));
            Assert.Equal(200, (await GetAsync(anonymous, "keyprotection/v1/metadata", null)).Status);
        }

        // A certificate of another CA (same subject): 403 with its code.
        using (var rogue = Http(fixture.RogueCertificateFile, fixture.RogueKeyFile))
        {
            Assert.Equal((403, "AdminClientCertificateRejected"), await GetAsync(rogue, "admin/v1/settings", fixture.AdminToken));
        }

        // The admin CA's certificate: accepted with the token; without it the token is still required (--admin-auth both).
        using (var admin = Http(fixture.AdminCertificateFile, fixture.AdminKeyFile))
        {
            Assert.Equal((200, null), await GetAsync(admin, "admin/v1/settings", fixture.AdminToken));
            Assert.Equal((401, "AdminCredentialRequired"), await GetAsync(admin, "admin/v1/settings", null));
        }

        // The CLI says the same.
        string missing = (await HgsCli.RunAsync(["keys", "list"], fixture.EnvironmentWith(("HGS_CLIENT_CERT", null), ("HGS_CLIENT_KEY", null)))).FailedWithOneErrorLine(1);
        Assert.StartsWith("error: AdminClientCertificateRequired:", missing, StringComparison.Ordinal);
        string rejected = (await HgsCli.RunAsync(["keys", "list", "--client-cert", fixture.RogueCertificateFile, "--client-key", fixture.RogueKeyFile], fixture.Environment)).FailedWithOneErrorLine(1);
        Assert.StartsWith("error: AdminClientCertificateRejected:", rejected, StringComparison.Ordinal);
        (await fixture.RunAsync("keys", "list")).Succeeded();
    }

    [Fact]
    public async Task A_rotated_certificate_reaches_new_connections_without_a_restart_and_a_bad_one_is_refused()
    {
        // Whatever the fixture's server presents now (its first certificate, unless this test ran before on it).
        string before = await PresentedThumbprintAsync();

        // A broken certificate file: logged as refused, the current certificate stays.
        int refusals = CountOf("[2202]");
        await ReplaceAsync(fixture.ServerCertificateFile, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
        await WaitUntilAsync(() => CountOf("[2202]") > refusals, "the server to log the refused certificate (event 2202)");
        Assert.Equal(before, await PresentedThumbprintAsync());
        Assert.False(fixture.Server.HasExited);

        // A new certificate and key (written in the order an operator might: key first, so a mismatched pair is seen
        // for a moment and refused too): the next connections get the new certificate, no restart.
        using var rotated = fixture.IssueServerCertificate("openhgs-rotated-" + Guid.NewGuid().ToString("N")[..8]);
        string work = fixture.NewFolder("rotation");
        TestCertificateAuthority.WritePem(rotated, Path.Combine(work, "new.pem"), Path.Combine(work, "new.key"));
        await ReplaceAsync(fixture.ServerKeyFile, await File.ReadAllTextAsync(Path.Combine(work, "new.key")));
        await ReplaceAsync(fixture.ServerCertificateFile, await File.ReadAllTextAsync(Path.Combine(work, "new.pem")));
        await WaitUntilAsync(async () => await PresentedThumbprintAsync() == rotated.Thumbprint, "a new connection to present the rotated certificate");
        Assert.NotEqual(before, rotated.Thumbprint);

        // Clients trusting the fabric CA carry on over new connections.
        (await fixture.RunAsync("keys", "list")).Succeeded();
    }

    [Fact]
    public async Task Production_refuses_plain_http_beyond_loopback_and_incomplete_tls_settings()
    {
        int port = ServerProcess.FreePort();
        var open = await HgsCli.RunAsync("server", "run", "--data", fixture.DataDirectory, "--urls", $"http://0.0.0.0:{port}", "--production");
        string error = open.FailedWithOneErrorLine(2);
        Assert.Contains($"'http://0.0.0.0:{port}'", error, StringComparison.Ordinal);
        Assert.Contains("--production refuses the plain-HTTP listener", error, StringComparison.Ordinal);

        var noKey = await HgsCli.RunAsync("server", "run", "--data", fixture.DataDirectory, "--urls", $"https://127.0.0.1:{port}", "--tls-cert", fixture.ServerCertificateFile);
        Assert.Contains("--tls-cert needs --tls-key", noKey.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        var noCertificate = await HgsCli.RunAsync("server", "run", "--data", fixture.DataDirectory, "--urls", $"https://127.0.0.1:{port}", "--admin-auth", "token");
        Assert.Contains("is https but no server certificate is configured", noCertificate.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // init checks the files before it creates anything.
        string folder = Path.Combine(fixture.NewFolder("init"), "service");
        string missing = Path.Combine(fixture.NewFolder("missing"), "server.pem");
        var init = await HgsCli.RunAsync("server", "init", "--data", folder, "--software", "--tls-cert", missing, "--tls-key", fixture.ServerKeyFile);
        Assert.Contains($"--tls-cert '{missing}' does not exist", init.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public async Task A_pkcs12_certificate_whose_password_comes_from_the_environment_serves_https()
    {
        string work = fixture.NewFolder("pfx");
        string pfx = Path.Combine(work, "server.pfx");
        using (var certificate = fixture.IssueServerCertificate("openhgs-pfx"))
        {
            TestCertificateAuthority.WritePkcs12(certificate, pfx, "pfx-secret");
        }

        // A wrong password stops the start with a configuration error (exit 2) naming the file.
        int port = ServerProcess.FreePort();
        var wrong = await HgsCli.RunAsync(["server", "run", "--data", fixture.DataDirectory, "--urls", $"https://127.0.0.1:{port}", "--tls-pfx", pfx, "--tls-pfx-password-env", "TEST_PFX_PASSWORD"],
            new Dictionary<string, string?> { ["TEST_PFX_PASSWORD"] = "not-the-password" });
        Assert.Contains($"the PKCS#12 file '{pfx}' cannot be loaded", wrong.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // Run options replace the stored TLS settings whole: this node authenticates admins by client certificate only.
        await using var node = await ServerProcess.StartAsync(fixture.DataDirectory,
            ServerTls.Options(["--tls-pfx", pfx, "--tls-pfx-password-env", "TEST_PFX_PASSWORD", "--admin-client-ca", fixture.AdminCaFile, "--admin-auth", "client-cert"], fixture.FabricCaFile)
                with { Environment = new Dictionary<string, string?> { ["TEST_PFX_PASSWORD"] = "pfx-secret" } });
        var keys = (await HgsCli.RunAsync(["keys", "list", "--json"], fixture.EnvironmentWith(("HGS_URL", node.Url), ("HGS_ADMIN_TOKEN", null)))).Succeeded().Json();
        Assert.Equal(3, keys.AsArray().Count);
        string tokenOnly = (await HgsCli.RunAsync(["keys", "list"], fixture.EnvironmentWith(("HGS_URL", node.Url), ("HGS_CLIENT_CERT", null), ("HGS_CLIENT_KEY", null)))).FailedWithOneErrorLine(1);
        Assert.StartsWith("error: AdminClientCertificateRequired:", tokenOnly, StringComparison.Ordinal);
        Assert.DoesNotContain("pfx-secret", node.Output, StringComparison.Ordinal);
    }

    private HttpClient Http(string? certificate, string? key) =>
        new(new ClientTlsOptions(fixture.FabricCaFile, certificate, key).CreateHandler()) { BaseAddress = new Uri(fixture.Url + "/"), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<(int Status, string? Code)> GetAsync(HttpClient http, string path, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        string? code = response.IsSuccessStatusCode ? null : JsonDocument.Parse(body).RootElement.GetProperty("code").GetString();
        return ((int)response.StatusCode, code);
    }

    /// <summary>The certificate a fresh TLS connection is given (only read here, so any certificate is accepted).</summary>
    private async Task<string> PresentedThumbprintAsync()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, fixture.Server.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        using var presented = X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
        return presented.Thumbprint;
    }

    private int CountOf(string text)
    {
        string output = fixture.Server.Output;
        int count = 0;
        for (int at = output.IndexOf(text, StringComparison.Ordinal); at >= 0; at = output.IndexOf(text, at + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>Replaces a file's content atomically (write beside it, rename over it), as certificate tooling does.</summary>
    private static async Task ReplaceAsync(string path, string content)
    {
        string temporary = path + ".new";
        await File.WriteAllTextAsync(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    private Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}\n{fixture.Server.Output}");
            }

            await Task.Delay(200);
        }
    }
}
