using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Audit;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Design change 79: <c>--production</c> fails closed on a key the token says can have left it. A real server on
/// SoftHSM2 and the real CLI; the key is made through Pkcs11Interop, extractable and not sensitive.
/// </summary>
public sealed class KeyCustodyEnforcementCliTests
{
    [Fact]
    [Trait("Attack", "A140")]
    public async Task A_production_start_is_refused_naming_a_key_the_token_would_export_and_read_out_until_each_finding_is_accepted_and_audited()
    {
        using var token = new SoftHsmToken();
        using var folder = new TempFolder();
        string data = folder["service"];
        var environment = await SoftHsmDataFolder.InitAsync(token, data);

        // The audit checkpoint key init made (no checkpoint signed yet) is replaced by one the token would export
        // (CKA_EXTRACTABLE) and return in clear (CKA_SENSITIVE false). The service would sign with it as before.
        const string label = AuditCheckpointKey.Label;
        using (var store = token.OpenKeyStore())
        {
            store.DeleteKey(label);
        }

        token.GenerateExposedKeyPair(label);
        string[] run = ["server", "run", "--data", data, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}", "--production"];

        // Were the refusal missing, the server would run: the timeout turns that into a failure, not a hang.
        var refused = await HgsCli.RunAsync(run, environment, timeout: TimeSpan.FromSeconds(60));
        string error = refused.FailedWithOneErrorLine(2);
        Assert.Contains($"--production refuses to start: key {label} (audit-checkpoint) has critical custody finding(s) Extractable, NotSensitive, ExtractableBefore, ReadableBefore on pkcs11 ",
            error, StringComparison.Ordinal);
        Assert.EndsWith($"accept each finding explicitly: --accept-key-custody {label}:Extractable --accept-key-custody {label}:NotSensitive "
            + $"--accept-key-custody {label}:ExtractableBefore --accept-key-custody {label}:ReadableBefore.", error, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Pin, refused.StdOut + refused.StdErr, StringComparison.Ordinal);

        // Accepting one finding accepts only that one.
        var partly = await HgsCli.RunAsync([.. run, "--accept-key-custody", $"{label}:Extractable"], environment, timeout: TimeSpan.FromSeconds(60));
        Assert.Contains("critical custody finding(s) NotSensitive, ExtractableBefore, ReadableBefore on ", partly.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // A finding that is not critical cannot be accepted (it would mean nothing).
        var warning = await HgsCli.RunAsync([.. run, "--accept-key-custody", $"{label}:Modifiable"], environment, timeout: TimeSpan.FromSeconds(60));
        Assert.Contains("--accept-key-custody: ", warning.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        // Every finding accepted explicitly: the start goes on, says so at once, audits each acceptance, and the custody report shows it.
        string[] accepted = ["Extractable", "NotSensitive", "ExtractableBefore", "ReadableBefore"];
        await using var server = await ServerProcess.StartAsync(data, new ServerProcessOptions
        {
            Environment = environment,
            Arguments = ["--production", .. accepted.SelectMany(code => new[] { "--accept-key-custody", $"{label}:{code}" })],
        });
        foreach (string code in accepted)
        {
            await server.WaitForOutputAsync($@"Key {label} \(audit-checkpoint\) is used although its custody check finds {code} on pkcs11 ", TimeSpan.FromSeconds(30)); // event 2043
        }

        var admin = new Dictionary<string, string?>
        {
            ["HGS_URL"] = server.Url,
            ["HGS_ADMIN_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim(),
        };
        var report = (await HgsCli.RunAsync(["keys", "custody", "--json"], admin)).Expect(1).Json();
        var key = report["keys"]!.AsArray().Single(k => (string?)k!["label"] == label)!;
        var critical = key["findings"]!.AsArray().Where(f => (bool)f!["critical"]!).ToList();
        Assert.Equal(accepted, critical.Select(f => (string)f!["code"]!));
        Assert.All(critical, f => Assert.True((bool)f!["accepted"]!));
        Assert.Contains("[critical, ACCEPTED by --accept-key-custody]", (await HgsCli.RunAsync(["keys", "custody"], admin)).Expect(1).StdOut, StringComparison.Ordinal);

        var records = (await HgsCli.RunAsync(["audit", "list", "--event", AuditEvents.KeyCustodyAccepted, "--json"], admin)).Succeeded().Json().AsArray();
        Assert.Equal(accepted.Order(), records.Select(r => (string)r!["reason"]!).Order());
        Assert.All(records, r => Assert.Equal(label, (string?)r!["subject"]));

        // At run time: a key pair the token would export appears under the attestation signer's label. The next check
        // (here 'hgs keys custody') holds the signer back, so no health certificate is signed with either object; once
        // the object is deleted, the next check lets the signer serve again.
        string signer = (string)report["keys"]!.AsArray().Single(k => (string?)k!["role"] == "attestation-signer")!["label"]!;
        string signerId = (string)report["keys"]!.AsArray().Single(k => (string?)k!["role"] == "attestation-signer")!["fabricKeyId"]!;
        string rogue = token.GenerateExposedKeyPair(signer);
        Assert.StartsWith($"error: 2 key(s) fail their custody check", (await HgsCli.RunAsync(["keys", "custody"], admin)).FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains($"IGNORED: {signerId} (CustodyFailed)", (await HgsCli.RunAsync(["diagnose", "--url", server.Url])).StdOut, StringComparison.Ordinal);
        await server.WaitForOutputAsync($@"Fabric key row {signerId} is ignored \(CustodyFailed\)", TimeSpan.FromSeconds(30));   // event 1102

        token.RunPkcs11Tool("--delete-object", "--type", "privkey", "--id", rogue);
        token.RunPkcs11Tool("--delete-object", "--type", "pubkey", "--id", rogue);
        (await HgsCli.RunAsync(["keys", "custody"], admin)).Expect(1);   // the accepted checkpoint key still fails the report
        Assert.DoesNotContain("IGNORED", (await HgsCli.RunAsync(["diagnose", "--url", server.Url])).StdOut, StringComparison.Ordinal);
        Assert.Equal(0, await server.StopAsync());
    }
}
