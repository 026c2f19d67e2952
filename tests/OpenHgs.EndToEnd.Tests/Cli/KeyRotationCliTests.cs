using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// docs/key-rotation.md, step by step through the command line: new KPS keys become primary, an owner re-grants to the
/// new fabric guardian, the old keys are disabled; the re-granted VM unlocks with the new keys (its release record
/// names them) and one that was not re-granted is refused with <c>KpsKeyDisabled</c>.
/// </summary>
public sealed class KeyRotationCliTests(SoftwareServerFixture fixture) : IClassFixture<SoftwareServerFixture>
{
    [Fact]
    [Trait("Attack", "A87")]
    public async Task The_documented_rotation_moves_releases_to_the_new_keys_and_refuses_protectors_left_behind()
    {
        string work = fixture.NewFolder("rotation");
        string P(string name) => Path.Combine(work, name);

        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("host-keys"))).Succeeded().StdOut.Trim();
        (await fixture.RunAsync("hosts", "add-key", "--name", "rotation-host", "--public-key", publicKey)).Succeeded();
        (await HgsCli.RunAsync("client", "configure", "--state", P("state"), "--attestation-url", fixture.Url, "--key-protection-url", fixture.Url, "--host-key", P("host-keys"))).Succeeded();

        // Before: two VMs protected for the fabric's original keys.
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric-old.json"))).Succeeded();
        (await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", P("owner.json"))).Succeeded();
        foreach (string vm in new[] { "regranted", "left-behind" })
        {
            (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric-old.json"), "--out", P($"{vm}.kp"), "--transport-key-out", P($"{vm}.tk"))).Succeeded();
        }

        var before = await KeysAsync();
        string oldEncryption = Primary(before, "encryption");
        string oldSigning = Primary(before, "signing");

        // Step 1: signing key first (the primary signing key issues a new encryption key's certificate), then the
        // encryption key; export the new fabric guardian.
        string newSigning = (string)(await fixture.RunAsync("keys", "add", "--role", "signing", "--json")).Succeeded().Json()["id"]!;
        (await fixture.RunAsync("keys", "set-primary", newSigning)).Succeeded();
        string newEncryption = (string)(await fixture.RunAsync("keys", "add", "--role", "encryption", "--json")).Succeeded().Json()["id"]!;
        (await fixture.RunAsync("keys", "set-primary", newEncryption)).Succeeded();
        (await fixture.RunAsync("guardian", "export", "--out", P("fabric-new.json"))).Succeeded();

        // Existing key protectors still release (with the old keys, which stay enabled).
        (await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("left-behind.kp"), "--out", P("left-behind.before"))).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(P("left-behind.tk")), await File.ReadAllBytesAsync(P("left-behind.before")));
        Assert.Contains(oldEncryption, await NewestReleaseDetailsAsync(), StringComparison.Ordinal);

        // Step 2: the owner grants the new fabric guardian.
        (await HgsCli.RunAsync("kp", "grant", "--kp", P("regranted.kp"), "--owner", P("owner.json"), "--guardian", P("fabric-new.json"), "--out", P("regranted-2.kp"))).Succeeded();

        // Step 3: the old encryption key is disabled (the old signing key stays until step 5: it rolls the key
        // protectors still wrapped to the old encryption key, and issued its certificate).
        (await fixture.RunAsync("keys", "disable", oldEncryption)).Succeeded();

        // The re-granted VM unlocks through the new keys, and its release record says so.
        (await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("regranted-2.kp"), "--out", P("regranted.after"))).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(P("regranted.tk")), await File.ReadAllBytesAsync(P("regranted.after")));
        string details = await NewestReleaseDetailsAsync();
        Assert.Contains(newEncryption, details, StringComparison.Ordinal);
        Assert.Contains(newSigning, details, StringComparison.Ordinal);
        Assert.DoesNotContain(oldSigning, details, StringComparison.Ordinal);

        // The VM whose owner did not re-grant is refused by name, audited, and nothing is written.
        var refused = await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("left-behind.kp"), "--out", P("left-behind.after"));
        Assert.StartsWith("error: KpsKeyDisabled:", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.False(File.Exists(P("left-behind.after")));
        var newest = (await fixture.RunAsync("audit", "list", "--limit", "5", "--json")).Succeeded().Json().AsArray()
            .First(r => (string?)r!["event"] == "keyprotection.release")!;
        Assert.Equal(("refused", "KpsKeyDisabled"), ((string?)newest["outcome"], (string?)newest["reason"]));

        // Enabling the old key undoes it (the documented escape hatch).
        (await fixture.RunAsync("keys", "enable", oldEncryption)).Succeeded();
        (await HgsCli.RunAsync("client", "unlock", "--state", P("state"), "--kp", P("left-behind.kp"), "--out", P("left-behind.after"))).Succeeded();
    }

    private async Task<JsonArray> KeysAsync() => (await fixture.RunAsync("keys", "list", "--json")).Succeeded().Json().AsArray();

    private static string Primary(JsonArray keys, string role) =>
        (string)keys.Single(k => (string?)k!["role"] == role && (bool)k["isPrimary"]!)!["id"]!;

    private async Task<string> NewestReleaseDetailsAsync()
    {
        var records = (await fixture.RunAsync("audit", "list", "--limit", "5", "--json")).Succeeded().Json().AsArray();
        var release = records.First(r => (string?)r!["event"] == "keyprotection.release")!;
        Assert.Equal("success", (string?)release["outcome"]);
        return (string)release["details"]!;
    }
}
