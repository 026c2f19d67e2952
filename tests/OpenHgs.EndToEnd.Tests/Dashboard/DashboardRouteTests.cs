using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Dashboard;

/// <summary>
/// The dashboard's routes over plain HTTP: the static page is public but locked down (CSP without inline script or
/// framing, nosniff, no caching) and holds no data; the admin routes it reads need the admin credential; the audit
/// outcome filter and the per-subject latest verdict answer what they promise.
/// </summary>
public sealed partial class DashboardRouteTests
{
    private const string ExpectedPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    [Theory]
    [InlineData("/dashboard", "text/html")]
    [InlineData("/dashboard/dashboard.js", "text/javascript")]
    [InlineData("/dashboard/dashboard.css", "text/css")]
    [Trait("Attack", "A88")]
    public async Task Dashboard_files_are_served_with_a_strict_content_security_policy(string path, string mediaType)
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(server.Url + path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(ExpectedPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.True(response.Headers.CacheControl?.NoStore);
    }

    [Fact]
    [Trait("Attack", "A89")]
    public async Task The_page_holds_no_inline_script_and_its_script_writes_no_markup_and_stores_no_token()
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        using var http = new HttpClient();
        string html = await http.GetStringAsync(new Uri(server.Url + "/dashboard"));
        string script = await http.GetStringAsync(new Uri(server.Url + "/dashboard/dashboard.js"));

        // Every <script> loads a file of this origin; no inline handlers or styles (the CSP would block them anyway).
        foreach (Match tag in ScriptTag().Matches(html))
        {
            Assert.Matches("src=\"/dashboard/[a-z]+\\.js\"", tag.Value);
        }

        Assert.DoesNotMatch(InlineHandler(), html);
        Assert.DoesNotContain("style=", html, StringComparison.Ordinal);

        // Data only as text; no code from strings; the token in memory only; reads only.
        foreach (string forbidden in new[] { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "sessionStorage", "document.cookie", "href", "src" })
        {
            Assert.DoesNotContain(forbidden, StripComments(script), StringComparison.Ordinal);
        }

        var methods = FetchMethod().Matches(script).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["GET"], methods.Distinct());
        Assert.DoesNotContain("/admin/v1/settings/", script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/admin/v1/attestations/latest")]
    [InlineData("/admin/v1/key-store/members")]
    [InlineData("/admin/v1/audit?outcome=refused")]
    [InlineData("/admin/v1/audit/rows/snapshot")]
    [Trait("Attack", "A90")]
    public async Task The_data_the_dashboard_shows_needs_the_admin_credential(string path)
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(server.Url + path));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("AdminCredentialRequired", Code(await response.Content.ReadAsStringAsync()));
    }

    [Theory]
    [InlineData("outcome=bogus", "'outcome'")]
    [InlineData("outcome=refused,", "'outcome'")]
    [InlineData("outcome=", "'outcome'")]
    public async Task An_unknown_audit_outcome_is_refused_naming_the_parameter(string query, string named)
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        using var http = AdminHttp(root);
        using var response = await http.GetAsync(new Uri($"{server.Url}/admin/v1/audit?{query}"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal("AuditQueryInvalid", Code(body));
        using var problem = JsonDocument.Parse(body);
        Assert.Contains(named, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_latest_attestation_per_subject_is_the_newest_and_outcome_filters_select_exactly()
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        string token = Token(root);
        using var admin = new AdminClient([server.Url], token);
        string keys = root["keys"];
        Directory.CreateDirectory(keys);
        await admin.AddHostKeyAsync("web-01", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
        string state = root["state"];
        new ClientConfiguration([server.Url], [server.Url], keys).Save(state);
        using (var client = new GuardedHostClient(state))
        {
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
            Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        }

        var attestations = await admin.QueryAuditAsync(100, null, "attestation.attest", "web-01", null, null, CancellationToken.None);
        Assert.Equal(2, attestations.Count);
        using var http = AdminHttp(root);
        using (var latest = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Url + "/admin/v1/attestations/latest"))))
        {
            var records = latest.RootElement.EnumerateArray().ToList();
            var web = Assert.Single(records, r => r.GetProperty("subject").GetString() == "web-01");
            Assert.Equal(attestations.Max(a => a.Sequence), web.GetProperty("sequence").GetInt64());
            Assert.Equal("success", web.GetProperty("outcome").GetString());
        }

        // No refusal yet: the refused/error filter is empty while the success filter holds both attestations.
        using (var refused = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Url + "/admin/v1/audit?outcome=refused,error"))))
        {
            Assert.Empty(refused.RootElement.EnumerateArray());
        }

        using var succeeded = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.Url + "/admin/v1/audit?outcome=success&event=attestation.attest")));
        Assert.Equal(2, succeeded.RootElement.GetArrayLength());
    }

    [Fact]
    public async Task The_dashboards_row_report_is_read_once_per_interval_and_now_on_request_and_says_when()
    {
        using var root = new TempFolder("openhgs-dashboard-routes-");
        await using var server = await StartAsync(root);
        using var admin = new AdminClient([server.Url], Token(root));
        using var http = AdminHttp(root);
        var shown = await SnapshotAsync(http, server.Url + "/admin/v1/audit/rows/snapshot");
        Assert.True(shown.Valid);
        Assert.Equal(TimeSpan.FromMinutes(5), shown.RefreshAfter - shown.TakenAt);

        // A host registered after it: the dashboard's refreshes within the interval show the report already read.
        string keys = root["keys"];
        Directory.CreateDirectory(keys);
        await admin.AddHostKeyAsync("web-01", File.ReadAllText(HostKeyPair.Generate(keys)), CancellationToken.None);
        Assert.Equal(shown, await SnapshotAsync(http, server.Url + "/admin/v1/audit/rows/snapshot"));

        // 'hgs audit rows' reads now, and what it read is what the dashboard shows next; "Verify now" reads again.
        var fresh = await admin.VerifyRowsAsync(CancellationToken.None);
        Assert.Equal(shown.Rows + 1, fresh.Rows);
        var afterCli = await SnapshotAsync(http, server.Url + "/admin/v1/audit/rows/snapshot");
        Assert.Equal(fresh.Rows, afterCli.Rows);
        Assert.True(afterCli.TakenAt > shown.TakenAt);
        var verifiedNow = await SnapshotAsync(http, server.Url + "/admin/v1/audit/rows/snapshot?fresh=true");
        Assert.True(verifiedNow.TakenAt > afterCli.TakenAt);

        using var bad = await http.GetAsync(new Uri(server.Url + "/admin/v1/audit/rows/snapshot?fresh=yes"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("RowSnapshotQueryInvalid", Code(await bad.Content.ReadAsStringAsync()));
    }

    private static async Task<(bool Valid, int Rows, DateTimeOffset TakenAt, DateTimeOffset RefreshAfter)> SnapshotAsync(HttpClient http, string url)
    {
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri(url)));
        var root = json.RootElement;
        var report = root.GetProperty("report");
        return (report.GetProperty("valid").GetBoolean(), report.GetProperty("rows").GetInt32(),
            root.GetProperty("takenAt").GetDateTimeOffset(), root.GetProperty("refreshAfter").GetDateTimeOffset());
    }

    private static async Task<ServerProcess> StartAsync(TempFolder root)
    {
        string data = root["service"];
        if (!Directory.Exists(data))
        {
            (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        }

        return await ServerProcess.StartAsync(data);
    }

    private static string Token(TempFolder root) => File.ReadAllText(Path.Combine(root["service"], "admin.token")).Trim();

    private static HttpClient AdminHttp(TempFolder root)
    {
        var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(root));
        return http;
    }

    private static string? Code(string problem)
    {
        using var json = JsonDocument.Parse(problem);
        return json.RootElement.GetProperty("code").GetString();
    }

    private static string StripComments(string script) => LineComment().Replace(script, string.Empty);

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();

    [GeneratedRegex("\\son[a-z]+\\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();

    [GeneratedRegex("method:\\s*'([A-Z]+)'")]
    private static partial Regex FetchMethod();

    [GeneratedRegex("//[^\\n]*")]
    private static partial Regex LineComment();
}
