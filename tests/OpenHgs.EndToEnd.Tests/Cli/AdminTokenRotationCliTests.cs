using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>Issue 9 §3: <c>hgs server rotate-admin-token</c> against a running server, the hash in SQLite.</summary>
public sealed class AdminTokenRotationCliTestsOnSqlite(SoftwareServerFixture fixture) : AdminTokenRotationCliTests(fixture), IClassFixture<SoftwareServerFixture>;

/// <summary>The same with the hash in PostgreSQL.</summary>
public sealed class AdminTokenRotationCliTestsOnPostgres(PostgresServerFixture fixture) : AdminTokenRotationCliTests(fixture), IClassFixture<PostgresServerFixture>;

/// <summary>
/// The admin credential is replaced by the real <c>hgs</c> in its own process while a real <c>hgs server run</c> process
/// serves the same data folder: the server refuses the old token and accepts the new one without a restart.
/// </summary>
public abstract class AdminTokenRotationCliTests(SoftwareServerFixture fixture)
{
    [Fact]
    [Trait("Attack", "A71")]
    public async Task Rotation_refuses_the_old_token_and_accepts_the_new_one_without_a_restart()
    {
        string tokenFile = TokenFile;
        string oldToken = (await File.ReadAllTextAsync(tokenFile)).Trim(); // the fixture's, unless another test of this class rotated it
        Assert.Equal(200, await AdminStatusAsync(oldToken)); // the server has verified (and cached) the old hash

        var rotated = (await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", fixture.DataDirectory, "--json"], environment: null)).Succeeded().Json();
        Assert.Equal(tokenFile, (string?)rotated["adminTokenFile"]);
        string newToken = (await File.ReadAllTextAsync(tokenFile)).Trim();
        Assert.StartsWith("hgsadm_", newToken, StringComparison.Ordinal);
        Assert.NotEqual(oldToken, newToken);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        Assert.Empty(Directory.EnumerateFiles(fixture.DataDirectory, "admin.token.tmp-*"));

        // The same server process: the old token is refused with its code, over HTTP and through the CLI.
        using (var refused = await AdminGetAsync(oldToken))
        {
            Assert.Equal(401, (int)refused.StatusCode);
            Assert.Equal("AdminCredentialRequired", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["code"]);
        }

        var cli = await HgsCli.RunAsync(["hosts", "list"], Admin(oldToken));
        Assert.StartsWith("error: AdminCredentialRequired:", cli.FailedWithOneErrorLine(1), StringComparison.Ordinal);

        // The new one is accepted, and the rotation is in the audit trail.
        Assert.Equal(200, await AdminStatusAsync(newToken));
        var audit = (await HgsCli.RunAsync(["audit", "list", "--json"], Admin(newToken))).Succeeded().Json().AsArray();
        Assert.Contains(audit, r => (string?)r!["event"] == "admin.server.rotate-admin-token" && (string?)r["outcome"] == "success");
        (await HgsCli.RunAsync(["audit", "verify"], Admin(newToken))).Succeeded(); // the record from the other process extends the signed chain

        // A second rotation replaces the second token in turn.
        (await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", fixture.DataDirectory], environment: null)).Succeeded();
        string third = (await File.ReadAllTextAsync(tokenFile)).Trim();
        Assert.Equal(401, await AdminStatusAsync(newToken));
        Assert.Equal(200, await AdminStatusAsync(third));
    }

    [Fact]
    [Trait("Attack", "A72")]
    public async Task A_hash_replaced_with_sql_while_the_server_runs_admits_nobody_at_once_until_rotation()
    {
        string token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        Assert.Equal(200, await AdminStatusAsync(token)); // verified and held by the running server

        const string AttackerToken = "hgsadm_the-attacker-knows-this-one";
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(AttackerToken)));
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(fixture.DataDirectory, $"UPDATE settings SET value = '{hash}' WHERE name = 'admin-token-sha256'"));
        foreach (string presented in new[] { AttackerToken, token })
        {
            using var refused = await AdminGetAsync(presented);
            Assert.Equal(503, (int)refused.StatusCode);
            Assert.Equal("AdminCredentialIntegrity", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["code"]);
        }

        // The documented way out: a rotation writes a new, MACed hash.
        (await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", fixture.DataDirectory], environment: null)).Succeeded();
        string rotated = (await File.ReadAllTextAsync(TokenFile)).Trim();
        Assert.Equal(200, await AdminStatusAsync(rotated));
        Assert.Equal(401, await AdminStatusAsync(AttackerToken));
        Assert.Equal(401, await AdminStatusAsync(token));
    }

    [Fact]
    [Trait("Attack", "A99")]
    public async Task A_rotated_out_token_put_back_with_a_copy_of_its_row_admits_nobody_until_rotation()
    {
        string old = (await File.ReadAllTextAsync(TokenFile)).Trim();
        Assert.Equal(200, await AdminStatusAsync(old)); // this server saw (and remembers) the old row
        string saved = $"saved_credential_{Guid.NewGuid():N}";
        await AuditedDataFolder.ExecuteAsync(fixture.DataDirectory, $"CREATE TABLE {saved} AS SELECT value, mac FROM settings WHERE name = 'admin-token-sha256'");
        (await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", fixture.DataDirectory], environment: null)).Succeeded();
        string rotated = (await File.ReadAllTextAsync(TokenFile)).Trim();

        // The old row, MAC and all, is put back: byte for byte the row the server remembers, but the trail recorded a
        // rotation since, so neither token is accepted.
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(fixture.DataDirectory,
            $"UPDATE settings SET value = (SELECT value FROM {saved}), mac = (SELECT mac FROM {saved}) WHERE name = 'admin-token-sha256'"));
        foreach (string presented in new[] { old, rotated })
        {
            using var refused = await AdminGetAsync(presented);
            Assert.Equal(503, (int)refused.StatusCode);
            var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Equal("AdminCredentialIntegrity", (string?)problem["code"]);
            Assert.Contains("is an older copy put back outside OpenHGS (audit record ", (string?)problem["detail"], StringComparison.Ordinal);
        }

        (await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", fixture.DataDirectory], environment: null)).Succeeded();
        Assert.Equal(200, await AdminStatusAsync((await File.ReadAllTextAsync(TokenFile)).Trim()));
        Assert.Equal(401, await AdminStatusAsync(old));
    }

    [Fact]
    public async Task Rotation_in_a_folder_that_is_not_initialised_is_bad_input_and_writes_no_token()
    {
        string empty = fixture.NewFolder("not-initialised");
        var result = await HgsCli.RunAsync(["server", "rotate-admin-token", "--data", empty], environment: null);
        Assert.Contains("is not an initialised OpenHGS data folder", result.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(empty));
    }

    private string TokenFile => Path.Combine(fixture.DataDirectory, "admin.token");

    private Dictionary<string, string?> Admin(string token) => new() { ["HGS_ADMIN_TOKEN"] = token, ["HGS_URL"] = fixture.Url };

    private async Task<int> AdminStatusAsync(string token)
    {
        using var answer = await AdminGetAsync(token);
        return (int)answer.StatusCode;
    }

    private async Task<HttpResponseMessage> AdminGetAsync(string token)
    {
        using var http = new HttpClient { BaseAddress = new Uri(fixture.Url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await http.GetAsync("/admin/v1/hosts");
    }
}
