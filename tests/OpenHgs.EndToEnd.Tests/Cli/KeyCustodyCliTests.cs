using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// <c>hgs keys custody</c> (design change 71): a security officer's check, against the token itself, that no key of the
/// fabric can have left the HSM. The real CLI and a real server on SoftHSM2; pkcs11-tool as the outside tool that puts
/// an extractable key under a fabric key's label.
/// </summary>
public sealed class KeyCustodyCliTests
{
    [Fact]
    [Trait("Attack", "A110")]
    public async Task Every_key_on_softhsm_passes_and_an_extractable_object_under_a_fabric_keys_label_fails_by_name_in_the_cli_and_the_log()
    {
        using var token = new SoftHsmToken();
        using var folder = new TempFolder();
        string data = folder["service"];
        var environment = await SoftHsmDataFolder.InitAsync(token, data);
        var admin = new Dictionary<string, string?> { ["HGS_ADMIN_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim() };

        string signer;
        await using (var server = await ServerProcess.StartAsync(data, new ServerProcessOptions { Environment = environment }))
        {
            admin["HGS_URL"] = server.Url;
            await server.WaitForOutputAsync(@"All 5 keys of the fabric pass their custody check", TimeSpan.FromSeconds(30));   // event 2041

            var report = (await HgsCli.RunAsync(["keys", "custody", "--json"], admin)).Succeeded().Json();
            Assert.True((bool)report["passed"]!);
            var keys = report["keys"]!.AsArray();
            Assert.Equal(["encryption", "signing", "attestation-signer", "audit-checkpoint", "row-mac"], keys.Select(k => (string)k!["role"]!));
            foreach (var key in keys)
            {
                var copy = Assert.Single(key!["copies"]!.AsArray())!;
                Assert.Equal("Token", (string?)copy["kind"]);
                Assert.Contains(token.TokenLabel, (string?)copy["holder"], StringComparison.Ordinal);
                var attributes = copy["attributes"]!;
                Assert.Equal((true, true, false, true, true), ((bool)attributes["sensitive"]!, (bool)attributes["alwaysSensitive"]!, (bool)attributes["extractable"]!,
                    (bool)attributes["neverExtractable"]!, (bool)attributes["local"]!));
                Assert.Empty(key["findings"]!.AsArray());
            }

            Assert.Equal(["Decrypt", "Unwrap"], Operations(keys, "encryption"));
            Assert.Equal(["Sign"], Operations(keys, "attestation-signer"));
            Assert.Equal(["Sign", "Verify"], Operations(keys, "row-mac"));
            Assert.EndsWith("5 keys checked: each can be shown never to have left its store.\n", (await HgsCli.RunAsync(["keys", "custody"], admin)).Succeeded().StdOut, StringComparison.Ordinal);
            signer = (string)keys.Single(k => (string?)k!["role"] == "attestation-signer")!["label"]!;

            // Someone with the token's PIN adds an extractable key pair under the attestation signer's label.
            token.RunPkcs11Tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", signer, "--usage-sign", "--extractable");

            var failed = await HgsCli.RunAsync(["keys", "custody"], admin);
            Assert.StartsWith($"error: 1 key(s) fail their custody check, first {signer} (DuplicateObjects on pkcs11 ", failed.FailedWithOneErrorLine(1), StringComparison.Ordinal);
            Assert.Contains("EXTRACTABLE", failed.StdOut, StringComparison.Ordinal);
            var refused = (await HgsCli.RunAsync(["keys", "custody", "--json"], admin)).Expect(1).Json();
            Assert.False((bool)refused["passed"]!);
            var judged = refused["keys"]!.AsArray().Single(k => (string?)k!["label"] == signer)!;
            Assert.Equal(2, judged["copies"]!.AsArray().Count);
            // pkcs11-tool's key is also modifiable and may sign-recover: warnings, after the failures.
            Assert.Equal(
                [("DuplicateObjects", "failure"), ("Extractable", "failure"), ("ExtractableBefore", "failure"), ("Modifiable", "warning"), ("ExcessOperations", "warning")],
                judged["findings"]!.AsArray().Select(f => ((string)f!["code"]!, (string)f["severity"]!)));
            Assert.All(refused["keys"]!.AsArray().Where(k => (string?)k!["label"] != signer), k => Assert.True((bool)k!["passed"]!));
            Assert.Equal(0, await server.StopAsync());
        }

        // The next start names it in the log before anyone asks (event 2040).
        await using var restarted = await ServerProcess.StartAsync(data, new ServerProcessOptions { Environment = environment });
        await restarted.WaitForOutputAsync($@"Key {signer} \(attestation-signer\) fails its custody check \(DuplicateObjects\) on pkcs11 ", TimeSpan.FromSeconds(30));
        Assert.Contains($"Key {signer} (attestation-signer) fails its custody check (Extractable)", restarted.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Pin, restarted.Output, StringComparison.Ordinal);
    }

    private static string[] Operations(JsonArray keys, string role) =>
        [.. keys.Single(k => (string?)k!["role"] == role)!["copies"]![0]!["attributes"]!["operations"]!.AsArray().Select(o => (string)o!)];
}

public sealed class KeyCustodyOnSoftwareStoreCliTests() : OneHostServiceTests(DatabaseKind.Sqlite)
{
    [Fact]
    public async Task The_software_store_passes_with_a_warning_per_key_that_it_is_not_an_hsm()
    {
        var admin = new Dictionary<string, string?> { ["HGS_URL"] = Service.Url, ["HGS_ADMIN_TOKEN"] = Service.AdminToken };
        var result = (await HgsCli.RunAsync(["keys", "custody", "--json"], admin)).Succeeded().Json();
        Assert.True((bool)result["passed"]!);
        Assert.Equal(5, result["keys"]!.AsArray().Count);
        Assert.All(result["keys"]!.AsArray(), k =>
        {
            Assert.Equal("Software", (string?)Assert.Single(k!["copies"]!.AsArray())!["kind"]);
            var finding = Assert.Single(k["findings"]!.AsArray())!;
            Assert.Equal(("SoftwareKeyStore", "warning"), ((string?)finding["code"], (string?)finding["severity"]));
        });
        string text = (await HgsCli.RunAsync(["keys", "custody"], admin)).Succeeded().StdOut;
        Assert.Contains("software key store in ", text, StringComparison.Ordinal);
        Assert.EndsWith("5 keys checked: held by the software key store (development only), not an HSM.\n", text, StringComparison.Ordinal);
    }
}
