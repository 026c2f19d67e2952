using System.Globalization;
using OpenHgs.Client.Tpm;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service;
using OpenHgs.Service.Policies;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Tests.Policies;

/// <summary>The built-in policies over the real event logs of the corpus (tests/testdata/eventlogs).</summary>
public sealed class PolicyCatalogTests
{
    public static TheoryData<string> Logs => TestData.LogNames;

    [Theory]
    [MemberData(nameof(Logs))]
    public void Default_policies_pass_a_secure_boot_host_that_matches_its_baseline_and_fail_only_secure_boot_otherwise(string name)
    {
        // A SHA-1-only log (Debian 10) is compared in its SHA-1 bank and also fails Hgs_PcrBankSha256, which the admin
        // disables to allow SHA-1 (docs/tpm-attestation.md, "PCR banks").
        var (log, evidence) = Evidence(name, [name]);
        var failed = Defaults().Evaluate(evidence).Where(o => !o.Result.Passed).Select(o => o.Name).ToList();

        var expected = new List<string>();
        if (!log.Banks.Contains(TpmAlgorithm.Sha256))
        {
            expected.Add("Hgs_PcrBankSha256");
        }

        if (log.GetSecureBootState().Enabled != true)
        {
            expected.Add("Hgs_SecureBootEnabled");
        }

        Assert.Equal(expected, failed);
    }

    [Fact]
    public void SHA1_only_baseline_and_host_compare_their_SHA1_PCRs()
    {
        var (_, evidence) = Evidence("Debian10GCE", ["Debian10GCE"]);
        Assert.Equal(TpmAlgorithm.Sha1, evidence.Bank);
        Assert.Equal(20, evidence.Pcrs[0].Length);
        Assert.True(PolicyCatalog.Find("Hgs_BaselineMatch")!.Evaluate(evidence).Passed);
        Assert.True(PolicyCatalog.Find("Hgs_BootComponents")!.Evaluate(evidence).Passed);

        // Another machine's SHA-1 boot: neither matches.
        var (_, other) = Evidence("Debian10GCE", ["Rhel8GCE"]);
        Assert.False(PolicyCatalog.Find("Hgs_BaselineMatch")!.Evaluate(other).Passed);
        Assert.False(PolicyCatalog.Find("Hgs_BootComponents")!.Evaluate(other).Passed);
    }

    [Fact]
    public void A_host_matching_no_registered_baseline_fails_the_baseline_policies_by_name()
    {
        var (_, evidence) = Evidence("Rhel8GCE", ["COS85AmdSev"]);
        var failed = Defaults().Evaluate(evidence).Where(o => !o.Result.Passed).Select(o => o.Name).ToList();
        Assert.Equal(["Hgs_SecureBootSettings", "Hgs_BaselineMatch", "Hgs_BootComponents"], failed);

        var (_, none) = Evidence("Rhel8GCE", []);
        Assert.Contains(Defaults().Evaluate(none), o => o is { Name: "Hgs_BaselineMatch", Result.Passed: false } && o.Result.Message.Contains("no baseline", StringComparison.Ordinal));
    }

    [Fact]
    public void Policies_a_typical_cloud_vm_cannot_satisfy_ship_disabled()
    {
        var dbx = PolicyCatalog.Find("Hgs_DbxPresent")!;
        Assert.Equal(PolicyState.Disabled, dbx.DefaultState);
        var (_, evidence) = Evidence("Ubuntu2104NoDbxGCE", ["Ubuntu2104NoDbxGCE"]);
        Assert.False(dbx.Evaluate(evidence).Passed);
        Assert.DoesNotContain(Defaults().Evaluate(evidence), o => o.Name == "Hgs_DbxPresent");
        Assert.Equal(PolicyState.Disabled, PolicyCatalog.Find("Hgs_KernelCommandLine")!.DefaultState);
    }

    [Theory]
    [Trait("Attack", "A122")]
    [InlineData("Debian10GCE")]
    [InlineData("GlinuxNoSecureBootLaptop")]
    public void Kernel_command_line_fails_when_nothing_was_measured_to_compare(string name)
    {
        // Neither the host nor its own baseline has a PCR 8 or 9 event: nothing is quoted there, so nothing can match.
        var (_, evidence) = Evidence(name, [name]);

        var result = PolicyCatalog.Find("Hgs_KernelCommandLine")!.Evaluate(evidence);

        Assert.False(result.Passed);
        Assert.Contains("nothing was measured into PCR 8 or 9", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernel_command_line_passes_when_PCR_8_and_9_are_measured_and_match_a_baseline()
    {
        var policy = PolicyCatalog.Find("Hgs_KernelCommandLine")!;

        Assert.True(policy.Evaluate(Evidence("Rhel8GCE", ["Rhel8GCE"]).Evidence).Passed);
        Assert.Equal("PCR 8/9 match no registered baseline.", policy.Evaluate(Evidence("Rhel8GCE", ["COS85AmdSev"]).Evidence).Message);
    }

    [Fact]
    public void Event_log_integrity_fails_when_measured_data_is_altered()
    {
        byte[] bytes = TestData.ReadLog("Rhel8GCE");
        var log = EventLogParser.Parse(bytes);
        var separator = log.Events.First(e => e.Type == TcgEventType.Separator);
        bytes[separator.Offset + separator.Size - 1] ^= 0x01;   // data changed, digests kept
        var tampered = EventLogParser.Parse(bytes);
        var evidence = PolicyEvidence.Of(tampered, []);

        var result = PolicyCatalog.Find("Hgs_EventLogIntegrity")!.Evaluate(evidence);

        Assert.False(result.Passed);
        Assert.Contains(separator.Index.ToString(CultureInfo.InvariantCulture), result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Baseline_whose_pcrs_are_not_its_logs_replay_is_refused()
    {
        var document = Document("Rhel8GCE");
        var pcrs = document.Pcrs["sha256"].ToDictionary(p => p.Key, p => p.Value);
        pcrs["4"] = new string('0', 64);
        var forged = document with { Pcrs = new Dictionary<string, IReadOnlyDictionary<string, string>> { ["sha256"] = pcrs } };

        var refused = Assert.Throws<ServiceException>(() => Baseline.FromDocument("forged", forged));
        Assert.Equal("BaselineInvalid", refused.Code);
    }

    private static PolicySnapshot Defaults() =>
        new(1, PolicyCatalog.All.ToDictionary(p => p.Name, p => p.DefaultState), []);

    private static (EventLog Log, PolicyEvidence Evidence) Evidence(string name, IEnumerable<string> baselines)
    {
        var log = EventLogParser.Parse(TestData.ReadLog(name));
        var registered = baselines.Select(b => Baseline.FromDocument(b, Document(b))).ToList();
        return (log, PolicyEvidence.Of(log, registered));
    }

    // The client's own description of a reference log: the document a lab registers without a TPM at hand.
    private static BaselineDocument Document(string name) =>
        BaselineCapture.Describe(TestData.ReadLog(name), "class-" + name, DateTimeOffset.UnixEpoch).Document;
}
