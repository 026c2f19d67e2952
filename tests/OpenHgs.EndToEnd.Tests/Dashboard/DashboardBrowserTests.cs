using System.Net.Http.Headers;
using Microsoft.Playwright;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.Crypto.Software;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Server.Configuration;
using OpenHgs.Server.Hosting;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Dashboard;

/// <summary>
/// The read-only dashboard in headless Chromium against a real <c>hgs server run</c> (two-member key store cluster,
/// one member down): the page asks for the admin token, refuses a wrong one with its problem code, and once signed in
/// shows each host's last verdict, releases, refusals, policies, fabric keys, the cluster's members and the audit
/// chain — the same facts the admin API answers. It only ever sends GETs and keeps the token out of storage and the
/// URL. Screenshots are kept as test artefacts (<see cref="HeadlessChromium.ArtefactDirectory"/>).
/// </summary>
public sealed class DashboardBrowserTests
{
    private static readonly float WaitMs = 30_000;

    [Fact]
    [Trait("Attack", "A90")]
    public async Task After_sign_in_the_dashboard_shows_hosts_verdicts_releases_refusals_policies_keys_members_and_the_audit_chain()
    {
        using var root = new TempFolder("openhgs-dashboard-");
        string data = await InitializeClusterServiceAsync(root["service"]);
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        await using var server = await ServerProcess.StartAsync(data);
        using var admin = new AdminClient([server.Url], token);

        // web-01 passes and unlocks; db-02 is refused (the fabric is in TPM mode when it asks); spare-03 never asks;
        // a key nobody registered tries too.
        var web = await RegisterHostAsync(admin, root, server, "web-01");
        var db = await RegisterHostAsync(admin, root, server, "db-02");
        await RegisterHostAsync(admin, root, server, "spare-03");
        var fabric = GuardianMetadata.Parse(await admin.ExportGuardianAsync(CancellationToken.None));
        using var owner = LocalGuardian.Create("dashboard-owner", TimeProvider.System);
        byte[] protector = KeyProtectorBuilder.Create(owner, [fabric], System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).ToJson();
        Assert.True((await web.AttestAsync(CancellationToken.None)).Passed);
        await web.UnlockAsync(protector, CancellationToken.None);
        await admin.SetModeAsync("tpm", CancellationToken.None);
        Assert.False((await db.AttestAsync(CancellationToken.None)).Passed);
        await admin.SetModeAsync("host-key", CancellationToken.None);
        using (var stranger = CreateHostClient(root, server, "stranger", out _))
        {
            Assert.False((await stranger.AttestAsync(CancellationToken.None)).Passed);
        }

        string dbKey = "key:" + (await admin.ListHostsAsync(CancellationToken.None)).Single(h => h.Name == "db-02").KeyThumbprint;
        string strangerKey = (await admin.ReadAuditAsync(1, CancellationToken.None)).Single().Subject;
        Assert.StartsWith("key:", strangerKey, StringComparison.Ordinal);
        await SetPolicyAsync(server, token, "Hgs_UefiDebugDisabled", "disabled");
        var keys = await admin.ListKeysAsync(CancellationToken.None);
        var chain = await admin.VerifyAuditAsync(CancellationToken.None);
        Assert.True(chain.Valid);

        await using var chromium = await HeadlessChromium.StartAsync();
        var page = await chromium.NewPageAsync();
        var requests = new List<(string Method, Uri Url)>();
        page.Request += (_, request) => requests.Add((request.Method, new Uri(request.Url)));
        await page.GotoAsync(server.Url + "/dashboard");

        // Not signed in: only the form; a wrong token is refused with the service's problem code.
        await Assertions.Expect(page.Locator("#login")).ToBeVisibleAsync(new() { Timeout = WaitMs });
        Assert.False(await page.Locator("#dashboard").IsVisibleAsync());
        await page.FillAsync("#token", token[..^4] + "AAAA");
        await page.ClickAsync("#sign-in");
        // Wait for the text, not the code: the page's first, token-less sign-in (for a client certificate) already set
        // the same code with no message, so the code alone can be seen before this refusal arrives.
        await Assertions.Expect(page.Locator("#login-error")).ToContainTextAsync("Sign-in refused: AdminCredentialRequired", new() { Timeout = WaitMs });
        await Assertions.Expect(page.Locator("#login-error")).ToHaveAttributeAsync("data-code", "AdminCredentialRequired");
        await HeadlessChromium.ScreenshotAsync(page, "01-sign-in-refused");

        await page.FillAsync("#token", token);
        await page.ClickAsync("#sign-in");
        await page.WaitForSelectorAsync("body[data-loaded]", new() { Timeout = WaitMs });
        await HeadlessChromium.ScreenshotAsync(page, "02-dashboard");

        // Hosts and their last verdicts.
        var hosts = page.Locator("#hosts");
        await AssertRowAsync(hosts, "web-01", "passed", "Passed");
        await AssertRowAsync(hosts, "db-02", "refused", "ModeMismatch");   // audited as its key: refused before the host lookup
        await AssertRowAsync(hosts, "spare-03", "never attested");
        await AssertRowAsync(hosts, strangerKey, "refused", "HostKeyNotRegistered");
        Assert.Equal(0, await hosts.Locator("tr", new() { HasText = dbKey }).CountAsync());

        // One page of hosts (design change 87): all three fit, so no next page. A name prefix reads only the names that
        // start with it; db-02's refusal, audited under its key, is then not shown as an unregistered key's.
        var count = hosts.Locator("[data-field=hosts-count]");
        await Assertions.Expect(count).ToHaveTextAsync("Hosts 1–3 of 3 hosts, by name", new() { Timeout = WaitMs });
        Assert.True(await page.Locator("#hosts-next").IsDisabledAsync());
        await page.FillAsync("#hosts-prefix", "web");
        await page.ClickAsync("#hosts-apply");
        await Assertions.Expect(count).ToHaveTextAsync("Hosts 1–1 of 1 hosts starting \"web\", by name", new() { Timeout = WaitMs });
        await AssertRowAsync(hosts, "web-01", "passed");
        Assert.Equal(0, await hosts.Locator("tr", new() { HasText = "db-02" }).CountAsync());
        Assert.Equal(0, await hosts.Locator("tr", new() { HasText = dbKey }).CountAsync());
        await AssertRowAsync(hosts, strangerKey, "refused", "HostKeyNotRegistered");
        Assert.True(requests.Exists(r => r.Url.PathAndQuery == "/admin/v1/hosts?limit=100&prefix=web"), "the filter asks the service, one page");
        await page.FillAsync("#hosts-prefix", string.Empty);
        await page.ClickAsync("#hosts-apply");
        await Assertions.Expect(count).ToHaveTextAsync("Hosts 1–3 of 3 hosts, by name", new() { Timeout = WaitMs });

        // Recent releases and refusals.
        await AssertRowAsync(page.Locator("#releases"), "web-01", "success");
        await AssertRowAsync(page.Locator("#refusals"), dbKey, "attestation.attest", "refused", "ModeMismatch");
        await AssertRowAsync(page.Locator("#refusals"), strangerKey, "attestation.attest", "refused", "HostKeyNotRegistered");

        // Policy states, as the admin left them.
        await AssertRowAsync(page.Locator("#policies"), "Hgs_UefiDebugDisabled", "disabled");
        await AssertRowAsync(page.Locator("#policies"), "Hgs_PcrBankSha256", "enabled");

        // Every fabric key, with its role and the primary flag.
        foreach (var key in keys)
        {
            await AssertRowAsync(page.Locator("#fabric-keys"), key.Id, key.Role, key.IsPrimary ? "primary" : "enabled", key.Thumbprint[..16]);
        }

        // HSM member health: m1 up, m2 down with why.
        await AssertRowAsync(page.Locator("#key-store"), "m1", "up");
        await AssertRowAsync(page.Locator("#key-store"), "m2", "down", "must hold exactly 32 bytes");
        Assert.Contains("ok", await page.Locator("#key-store dl").TextContentAsync(), StringComparison.Ordinal);

        // Key custody: m1's copies are the software store's (a warning); m2 is down, so nothing is known of its copies.
        var custody = await admin.GetKeyCustodyAsync(CancellationToken.None);
        Assert.False(custody.Passed);
        Assert.Contains(custody.Keys.Count + " FAIL", await page.Locator("#key-custody").TextContentAsync(), StringComparison.Ordinal);
        foreach (var key in custody.Keys)
        {
            var rows = page.Locator("#key-custody tr").Filter(new() { HasText = key.Label });
            await Assertions.Expect(rows.Filter(new() { HasText = "HolderUnavailable" }).Filter(new() { HasText = "m2" })).ToContainTextAsync("failure", new() { Timeout = WaitMs });
            await Assertions.Expect(rows.Filter(new() { HasText = "SoftwareKeyStore" }).Filter(new() { HasText = "m1" })).ToContainTextAsync("warning", new() { Timeout = WaitMs });
        }

        // Audit chain: verified, with the record count the API reports (the dashboard's reads are not audited).
        Assert.Contains("verified", await page.Locator("#audit-chain").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(chain.Records.ToString(System.Globalization.CultureInfo.InvariantCulture), await page.Locator("#audit-chain [data-field=records]").TextContentAsync());

        // Table rows: every one verifies and is current, as 'hgs audit rows' says.
        var rowReport = await admin.VerifyRowsAsync(CancellationToken.None);
        Assert.True(rowReport.Valid);
        Assert.Contains("verified", await page.Locator("#table-rows").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(rowReport.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture), await page.Locator("#table-rows [data-field=rows]").TextContentAsync());
        // The section says when its report was taken (design change 81); "Verify now" reads the rows again, with a GET.
        Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$", await page.Locator("#table-rows [data-field=taken-at]").TextContentAsync());
        var verified = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#verify-rows"), r => r.Url.EndsWith("/admin/v1/audit/rows/snapshot?fresh=true", StringComparison.Ordinal));
        Assert.Equal(200, verified.Status);
        await Assertions.Expect(page.Locator("#verify-rows")).ToBeEnabledAsync(new() { Timeout = WaitMs });

        // Read-only, same origin, and the token is nowhere but in the page's memory.
        Assert.NotEmpty(requests);
        Assert.All(requests, r => Assert.Equal("GET", r.Method));
        Assert.All(requests, r => Assert.Equal(new Uri(server.Url).Authority, r.Url.Authority));
        Assert.All(requests, r => Assert.True(
            r.Url.AbsolutePath.StartsWith("/dashboard", StringComparison.Ordinal) || r.Url.AbsolutePath.StartsWith("/admin/v1/", StringComparison.Ordinal) || r.Url.AbsolutePath == "/healthz/ready",
            r.Url.AbsolutePath));
        Assert.DoesNotContain(requests, r => r.Url.Query.Contains(token, StringComparison.Ordinal));
        string stored = await page.EvaluateAsync<string>("() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie + location.href");
        Assert.DoesNotContain(token, stored, StringComparison.Ordinal);
        Assert.Equal(string.Empty, await page.InputValueAsync("#token"));

        // Signing out forgets the data too.
        await page.ClickAsync("#sign-out");
        await Assertions.Expect(page.Locator("#login")).ToBeVisibleAsync(new() { Timeout = WaitMs });
        Assert.False(await page.Locator("#dashboard").IsVisibleAsync());
        Assert.Equal(string.Empty, (await page.Locator("#hosts .content").TextContentAsync())?.Trim());
        await HeadlessChromium.ScreenshotAsync(page, "03-signed-out");
    }

    [Fact]
    [Trait("Attack", "A89")]
    public async Task Rows_changed_outside_OpenHGS_show_a_broken_audit_chain_and_hostile_text_stays_text()
    {
        using var root = new TempFolder("openhgs-dashboard-tamper-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        await using var server = await ServerProcess.StartAsync(data);
        using var admin = new AdminClient([server.Url], token);
        var client = await RegisterHostAsync(admin, root, server, "web-01");
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        client.Dispose();

        // Someone with write access to the database edits a record and appends one carrying markup.
        const string Hostile = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";
        string database = Path.Combine(data, "hgs.db");
        var head = await admin.ReadAuditAsync(1, CancellationToken.None);
        long next = head[0].Sequence + 1;
        string quoted = Hostile.Replace("'", "''", StringComparison.Ordinal);
        await RunSqliteAsync(database,
            "UPDATE audit_log SET subject = subject || '-edited' WHERE seq = 1;"
            + $"INSERT INTO audit_log (seq, ts, event, outcome, subject, reason, details, prev_hash, hash) VALUES ({next}, 0, 'attestation.attest', 'refused', '{quoted}', '{quoted}', '{{}}', x'00', x'00');");
        await RunSqliteAsync(database, "UPDATE hosts SET added_at = added_at + 1 WHERE name = 'web-01';");
        var verdict = await admin.VerifyAuditAsync(CancellationToken.None);
        Assert.False(verdict.Valid);
        Assert.NotNull(verdict.Reason);

        await using var chromium = await HeadlessChromium.StartAsync();
        var page = await chromium.NewPageAsync();
        var dialogs = 0;
        page.Dialog += (_, _) => dialogs++;
        await page.GotoAsync(server.Url + "/dashboard");
        await page.FillAsync("#token", token);
        await page.ClickAsync("#sign-in");
        await page.WaitForSelectorAsync("body[data-loaded]", new() { Timeout = WaitMs });
        await HeadlessChromium.ScreenshotAsync(page, "04-tampered");

        var audit = page.Locator("#audit-chain");
        Assert.Contains("BROKEN", await audit.TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(verdict.Reason, await audit.Locator(".error").GetAttributeAsync("data-code"));
        await AssertRowAsync(page.Locator("#table-rows"), "hosts / web-01", "changed", "The hosts row 'web-01' was changed outside OpenHGS");
        // Record 1, the marker from which admin records are sealed (design change 67), no longer matches its seal.
        await AssertRowAsync(page.Locator("#table-rows"), "audit_log / 1", "forged", "The admin record 1 (admin.audit.seal-records about 'audit-edited') has no valid seal");
        Assert.Contains("2 FAIL", await page.Locator("#table-rows").TextContentAsync(), StringComparison.Ordinal);
        // The hosts section names the changed row on its page rather than hiding it (design change 87).
        await Assertions.Expect(page.Locator("#hosts [data-code=HostRowsRejected]")).ToContainTextAsync("web-01 (changed)", new() { Timeout = WaitMs });
        Assert.Equal(0, await page.Locator("#hosts tr", new() { HasText = "web-01" }).CountAsync());

        // The markup is shown as text, in both the refusals and the unregistered attempts, and nothing ran.
        Assert.Contains(Hostile, await page.Locator("#refusals").TextContentAsync(), StringComparison.Ordinal);
        Assert.Contains(Hostile, await page.Locator("#hosts").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("#dashboard img, #dashboard script").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__pwned === undefined"));
        Assert.Equal(0, dialogs);
    }

    private static async Task AssertRowAsync(ILocator section, string key, params string[] cells)
    {
        var row = section.Locator("tr", new() { HasText = key });
        await Assertions.Expect(row.First).ToBeVisibleAsync(new() { Timeout = WaitMs });
        string text = await row.First.TextContentAsync() ?? string.Empty;
        foreach (string cell in cells)
        {
            Assert.True(text.Contains(cell, StringComparison.Ordinal), $"the row for '{key}' does not show '{cell}': {text}");
        }
    }

    /// <summary>A fresh software-store service whose key store is a cluster of itself (m1) and a second store that cannot open (m2).</summary>
    private static async Task<string> InitializeClusterServiceAsync(string data)
    {
        await HgsInitializer.InitializeAsync(new InitRequest(data, SoftwareKeyStoreProvider.DefaultUri, "sqlite:hgs.db", "Dashboard fabric", false),
            TimeProvider.System, CancellationToken.None);
        Directory.CreateDirectory(Path.Combine(data, "keystore-m2"));
        OwnerOnlyFile.CreateNew(Path.Combine(data, "keystore-m2.key"), "empty"u8);
        string cluster = KeyStoreUri.Create("cluster", [],
        [
            new("member", SoftwareKeyStoreProvider.DefaultUri),
            new("member", "software:path=keystore-m2?key-file=keystore-m2.key"),
            new("retry-initial-ms", "60000"),
            new("retry-max-ms", "60000"),
        ]).Text;
        (HgsConfiguration.Load(data) with { KeyStore = cluster }).Save(data);
        return data;
    }

    private static async Task<GuardedHostClient> RegisterHostAsync(AdminClient admin, TempFolder root, ServerProcess server, string name)
    {
        var client = CreateHostClient(root, server, name, out string publicKey);
        await admin.AddHostKeyAsync(name, publicKey, CancellationToken.None);
        return client;
    }

    private static GuardedHostClient CreateHostClient(TempFolder root, ServerProcess server, string name, out string publicKey)
    {
        string keys = root["keys-" + name];
        Directory.CreateDirectory(keys);
        publicKey = File.ReadAllText(HostKeyPair.Generate(keys));
        string state = root["state-" + name];
        new ClientConfiguration([server.Url], [server.Url], keys).Save(state);
        return new GuardedHostClient(state);
    }

    private static async Task RunSqliteAsync(string database, string sql)
    {
        var start = new System.Diagnostics.ProcessStartInfo("sqlite3") { RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(database);
        start.ArgumentList.Add(sql);
        using var process = System.Diagnostics.Process.Start(start)!;
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, "sqlite3: " + error);
    }

    private static async Task SetPolicyAsync(ServerProcess server, string token, string policy, string state)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri($"{server.Url}/admin/v1/policies/{policy}/{state}"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
