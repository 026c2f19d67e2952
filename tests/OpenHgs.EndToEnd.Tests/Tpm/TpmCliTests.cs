using System.Text.Json.Nodes;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Cli;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// The TPM-mode command line contract, run as the real <c>hgs</c> process against the real service and swtpm. What
/// involves the service runs on SQLite and on PostgreSQL; <c>eventlog show</c> and <c>client identify</c> read only a
/// file or a TPM, so they run once.
/// </summary>
public sealed class TpmCliTests
{
    public static TheoryData<string> Logs => TestData.LogNames;

    [Theory]
    [MemberData(nameof(Logs))]
    public async Task Eventlog_show_json_has_the_replayed_pcrs_of_every_bank_and_the_events(string name)
    {
        var entry = TestData.Entry(name);
        string path = Path.Combine(TestData.EventLogDirectory, entry.File);

        var json = (await HgsCli.RunAsync("eventlog", "show", path, "--json")).Succeeded().Json();

        var pcrs = json["pcrs"]!.AsObject();
        foreach (var (bank, expected) in entry.ExpectedPcrs)
        {
            foreach (var (pcr, hex) in expected)
            {
                Assert.Equal(hex, (string?)pcrs[bank]![pcr.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            }
        }

        Assert.NotEmpty(json["events"]!.AsArray());
        Assert.All(json["events"]!.AsArray(), e => Assert.NotNull(e!["type"]));
        var text = (await HgsCli.RunAsync("eventlog", "show", path)).Succeeded();
        Assert.Contains("EV_", text.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Eventlog_show_lists_windows_minus_one_events_without_replaying_them()
    {
        string path = Path.Combine(Path.GetTempPath(), "openhgs-wbcl-" + Guid.NewGuid().ToString("N") + ".bin");
        await File.WriteAllBytesAsync(path, OpenHgs.Tpm.Tests.Support.EventLogBuilder.WindowsMeasuredBoot(OpenHgs.Tpm.TpmAlgorithm.Sha256).Build());
        try
        {
            var json = (await HgsCli.RunAsync("eventlog", "show", path, "--json")).Succeeded().Json();

            var tags = json["events"]!.AsArray().Where(e => (int)e!["pcr"]! == -1).ToList();
            Assert.Equal(2, tags.Count);
            Assert.All(tags, e => Assert.Equal("EV_NO_ACTION", (string?)e!["type"]));
            Assert.Equal(["0", "1", "2", "3", "4", "5", "6", "7", "12"], json["pcrs"]!["sha256"]!.AsObject().Select(p => p.Key));
            Assert.Contains("PCR -1 EV_NO_ACTION", (await HgsCli.RunAsync("eventlog", "show", path)).Succeeded().StdOut, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Eventlog_show_refuses_a_truncated_log_with_one_error_line()
    {
        string path = Path.Combine(Path.GetTempPath(), "openhgs-truncated-" + Guid.NewGuid().ToString("N") + ".bin");
        byte[] log = TestData.ReadLog("Rhel8GCE");
        await File.WriteAllBytesAsync(path, log[..(log.Length / 2 + 7)]);
        try
        {
            string error = (await HgsCli.RunAsync("eventlog", "show", path, "--json")).FailedWithOneErrorLine(ExitCodes.BadInput);
            Assert.Contains("not a valid TCG event log", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Client_identify_with_an_unreachable_TPM_is_unavailable_with_one_error_line()
    {
        using var closed = new OpenHgs.EndToEnd.Tests.Cli.ClosedPort();
        using var folder = new OpenHgs.EndToEnd.Tests.Cli.TempFolder();

        string error = (await HgsCli.RunAsync("client", "identify", "--state", folder["state"], "--tpm", $"swtpm:host=127.0.0.1,port={closed.Port}", "--out", folder["id.json"]))
            .FailedWithOneErrorLine(ExitCodes.Unavailable);

        Assert.StartsWith("error: TPM unavailable", error, StringComparison.Ordinal);
        Assert.False(File.Exists(folder["id.json"]));
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Enrol_baseline_attest_and_unlock_through_the_command_line(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(registerRoots: false, database: database);
        var service = scenario.Service;
        var env = new Dictionary<string, string?> { ["HGS_URL"] = service.Url, ["HGS_ADMIN_TOKEN"] = service.AdminToken };
        string dir = Path.Combine(service.Root, "cli");
        string state = Path.Combine(dir, "state");
        Directory.CreateDirectory(dir);
        string log = scenario.WriteLog("cli.log", TestData.ReadLog("Rhel8GCE"));
        Task<CliResult> Hgs(params string[] args) => HgsCli.RunAsync(args, env);

        (await Hgs("server", "set-mode", "host-key")).Succeeded();
        (await Hgs("tpm-roots", "add", scenario.Tpm.RootCertificatePath)).Succeeded();
        (await Hgs("tpm-roots", "add", scenario.Tpm.IssuerCertificatePath)).Succeeded();
        (await Hgs("client", "identify", "--state", state, "--tpm", scenario.Tpm.Specification, "--out", Path.Combine(dir, "id.json"))).Succeeded();
        Assert.Empty((await Hgs("hosts", "add-tpm", "--name", "cli-host", "--identity", Path.Combine(dir, "id.json"))).Succeeded().StdErr);
        (await Hgs("client", "configure", "--state", state, "--attestation-url", service.Url, "--key-protection-url", service.Url,
            "--tpm", scenario.Tpm.Specification, "--event-log", log)).Succeeded();
        (await Hgs("client", "baseline", "--state", state, "--out", Path.Combine(dir, "baseline.json"), "--hardware-class", "gce-n1")).Succeeded();
        var added = (await Hgs("policy", "add-baseline", "--name", "gce-n1", "--file", Path.Combine(dir, "baseline.json"), "--json")).Succeeded().Json();

        // One mode at a time: in host-key mode the TPM host is refused by name; after set-mode tpm it passes.
        var refused = await Hgs("client", "attest", "--state", state, "--json");
        refused.Expect(ExitCodes.Refused);
        Assert.Equal("ModeMismatch", (string?)refused.Json()["reasons"]![0]!["code"]);
        (await Hgs("server", "set-mode", "tpm")).Succeeded();

        var policies = (await Hgs("policy", "list", "--json")).Succeeded().Json().AsArray();
        Assert.Contains(policies, p => (string?)p!["name"] == "Hgs_SecureBootEnabled" && (string?)p["state"] == "enabled");
        Assert.All(policies, p => Assert.Contains((string?)p!["state"], new[] { "enabled", "disabled", "staged" }));

        var attested = (await Hgs("client", "attest", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attested["status"]);
        Assert.Equal((int)added["policyVersion"]!, (int)attested["policyVersion"]!);

        using var tenant = new Tenant();
        var (protector, transportKey) = tenant.CreateProtector(await service.FabricGuardianAsync());
        string kp = Path.Combine(dir, "vm.kp");
        await File.WriteAllBytesAsync(kp, protector.ToJson());
        (await Hgs("client", "unlock", "--state", state, "--kp", kp, "--out", Path.Combine(dir, "vm.key"))).Succeeded();
        Assert.Equal(transportKey, await File.ReadAllBytesAsync(Path.Combine(dir, "vm.key")));

        var staged = (await Hgs("policy", "stage", "Hgs_BaselineMatch", "--json")).Succeeded().Json();
        Assert.Equal("staged", (string?)staged["state"]);
        Assert.Equal((int)added["policyVersion"]! + 1, (int)staged["policyVersion"]!);
        (await Hgs("policy", "disable", "Hgs_BaselineMatch")).Succeeded();
        (await Hgs("policy", "enable", "Hgs_BaselineMatch")).Succeeded();

        var baselines = (await Hgs("policy", "baselines", "--json")).Succeeded().Json().AsArray();
        Assert.Equal(("gce-n1", (string?)added["hardwareClass"]), ((string?)Assert.Single(baselines)!["name"], (string?)baselines[0]!["hardwareClass"]));
        var removed = (await Hgs("policy", "remove-baseline", "gce-n1", "--json")).Succeeded().Json();
        Assert.Equal("removed", (string?)removed["state"]);
        Assert.Empty((await Hgs("policy", "baselines", "--json")).Succeeded().Json().AsArray());

        foreach (var root in (await Hgs("tpm-roots", "list", "--json")).Succeeded().Json().AsArray())
        {
            string thumbprint = (string)root!["thumbprint"]!;
            Assert.Equal(thumbprint, (string?)(await Hgs("tpm-roots", "remove", thumbprint[..20], "--json")).Succeeded().Json()["thumbprint"]);
        }

        Assert.Empty((await Hgs("tpm-roots", "list", "--json")).Succeeded().Json().AsArray());
    }

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Add_tpm_without_certificate_needs_the_flag_and_then_warns_loudly_on_stderr(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(registerRoots: false, database: database);
        var service = scenario.Service;
        var env = new Dictionary<string, string?> { ["HGS_URL"] = service.Url, ["HGS_ADMIN_TOKEN"] = service.AdminToken };
        string dir = Path.Combine(service.Root, "cli-nocert");
        Directory.CreateDirectory(dir);
        string identity = Path.Combine(dir, "id.json");
        Task<CliResult> Hgs(params string[] args) => HgsCli.RunAsync(args, env);

        (await Hgs("client", "identify", "--state", Path.Combine(dir, "state"), "--tpm", scenario.Tpm.Specification, "--out", identity)).Succeeded();
        var document = JsonNode.Parse(await File.ReadAllTextAsync(identity))!.AsObject();
        Assert.NotNull(document["ekCertificate"]);
        document["ekCertificate"] = null;
        await File.WriteAllTextAsync(identity, document.ToJsonString());

        string error = (await Hgs("hosts", "add-tpm", "--name", "no-cert", "--identity", identity)).FailedWithOneErrorLine(ExitCodes.BadInput);
        Assert.Contains("EkCertificateRequired", error, StringComparison.Ordinal);
        Assert.Empty((await Hgs("hosts", "list", "--json")).Succeeded().Json().AsArray());

        var added = (await Hgs("hosts", "add-tpm", "--name", "no-cert", "--identity", identity, "--allow-without-certificate", "--json")).Succeeded();
        Assert.Equal("no-cert", (string?)added.Json()["name"]);
        var warning = Assert.Single(added.ErrorLines);
        Assert.StartsWith("WARNING: TPM host no-cert was registered WITHOUT an EK certificate", warning, StringComparison.Ordinal);
    }
}
