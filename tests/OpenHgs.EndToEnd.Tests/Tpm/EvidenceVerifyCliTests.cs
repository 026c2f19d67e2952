using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Cli;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;
using OpenHgs.Tpm;
using OpenHgs.Tpm.Commands;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// A swtpm (SHA-1 and SHA-256 banks active) booted (by replay, in both) with one real machine's event log, two
/// persistent AKs, and the files an operator collects from a host with tpm2-tools: <c>tpm2_readpublic -o</c>, and a
/// <c>tpm2_quote -m/-s</c> by the first AK and one by the second, each over PCRs 0-7 and 10 of every bank the log
/// declares and SHA-1 and SHA-256 (the bank rule), with a known nonce. Also the A120 evidence of a second swtpm whose
/// firmware extended only SHA-1 and whose SHA-256 bank root filled with this log, quoted in SHA-256 only.
/// </summary>
public sealed class EvidenceFiles : IDisposable
{
    public const string LogName = "Rhel8GCE";

    private const uint Ak = 0x81000110;
    private const uint OtherAk = 0x81000111;

    private readonly SwtpmFixture _tpm = new();
    private readonly SwtpmFixture _rooted = new();
    private readonly TempFolder _folder = new("openhgs-evidence-");

    public EvidenceFiles()
    {
        Log = _folder["binary_bios_measurements"];
        File.WriteAllBytes(Log, TestData.ReadLog(LogName));
        var log = EventLogParser.Parse(TestData.ReadLog(LogName));
        using (var client = _tpm.CreateClient())
        {
            client.ExtendEventLog(log, [TpmAlgorithm.Sha1, TpmAlgorithm.Sha256]);
            using var srk = client.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
            foreach (uint handle in new[] { Ak, OtherAk })
            {
                using var ak = client.Load(srk, client.Create(srk, TpmTemplates.AkRsa2048));
                client.EvictControl(ak, handle);
            }
        }

        _tpm.RunTpm2Tool("tpm2_readpublic", "-c", $"0x{Ak:x8}", "-o", AkPublic);
        foreach (uint handle in new[] { Ak, OtherAk })
        {
            string prefix = _folder[$"{handle:x8}"];
            _tpm.RunTpm2Tool("tpm2_quote", "-c", $"0x{handle:x8}", "-l", EveryBank(log, "0,1,2,3,4,5,6,7,10"), "-q", Nonce,
                "-m", prefix + ".msg", "-s", prefix + ".sig", "-g", "sha256");
        }

        // The quote a service asks for (every PCR the policies read: AttestedPcrs), for evaluating its policies offline.
        PolicyPcrs = string.Join(",", AttestedPcrs.Indices(log));
        _tpm.RunTpm2Tool("tpm2_quote", "-c", $"0x{Ak:x8}", "-l", EveryBank(log, PolicyPcrs), "-q", Nonce,
            "-m", _folder["policy.msg"], "-s", _folder["policy.sig"], "-g", "sha256");

        // A120: SHA-1-only firmware (Debian10GCE); root extends this log into the SHA-256 bank nothing extended, and quotes SHA-256 alone.
        using (var client = _rooted.CreateClient())
        {
            client.ExtendEventLog(EventLogParser.Parse(TestData.ReadLog("Debian10GCE")), [TpmAlgorithm.Sha1]);
            client.ExtendEventLog(log, [TpmAlgorithm.Sha256]);
            using var srk = client.CreatePrimary(TpmHandles.Owner, TpmTemplates.SrkRsa2048);
            using var ak = client.Load(srk, client.Create(srk, TpmTemplates.AkRsa2048));
            client.EvictControl(ak, Ak);
        }

        _rooted.RunTpm2Tool("tpm2_readpublic", "-c", $"0x{Ak:x8}", "-o", RootFilledAkPublic);
        _rooted.RunTpm2Tool("tpm2_quote", "-c", $"0x{Ak:x8}", "-l", "sha256:" + PolicyPcrs, "-q", Nonce,
            "-m", RootFilledQuote, "-s", RootFilledSignature, "-g", "sha256");
    }

    /// <summary>The AK of the A120 TPM.</summary>
    public string RootFilledAkPublic => _folder["rooted-ak.pub"];

    /// <summary>A120: the A120 TPM's SHA-256-only quote of every PCR the policies read, which replays from <see cref="Log"/>.</summary>
    public string RootFilledQuote => _folder["rooted.msg"];

    public string RootFilledSignature => _folder["rooted.sig"];

    /// <summary>The PCRs of <see cref="PolicyQuote"/> (comma-separated).</summary>
    public string PolicyPcrs { get; }

    /// <summary>A quote (every bank, as the service asks) over every PCR the service's policies read for this log.</summary>
    public string PolicyQuote => _folder["policy.msg"];

    public string PolicySignature => _folder["policy.sig"];

    /// <summary>The qualifying data every quote was made with (hex).</summary>
    public string Nonce { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public string AkPublic => _folder["ak.pub"];

    public string Log { get; }

    public string Quote(bool otherAk = false) => _folder[$"{(otherAk ? OtherAk : Ak):x8}.msg"];

    public string Signature(bool otherAk = false) => _folder[$"{(otherAk ? OtherAk : Ak):x8}.sig"];

    /// <summary>A file in the folder holding <paramref name="bytes"/>.</summary>
    public string Write(string name, byte[] bytes)
    {
        string path = _folder[name + "-" + Guid.NewGuid().ToString("N")[..8]];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        _tpm.Dispose();
        _rooted.Dispose();
        _folder.Dispose();
    }

    /// <summary>tpm2-tools' selection of <paramref name="pcrs"/> in every bank the log declares and the probed SHA-1 and SHA-256, as the host agent quotes.</summary>
    private static string EveryBank(EventLog log, string pcrs) =>
        string.Join("+", log.Banks.Union(AttestedPcrs.ProbedBanks).Select(b => $"{b.Name()}:{pcrs}"));
}

/// <summary>
/// <c>hgs evidence verify</c> against real <c>tpm2_quote</c> output from swtpm, over both active banks: good evidence
/// passes with honest per-PCR results in each; each kind of bad evidence fails the check that catches it, with exit 1
/// (a check failed) or exit 2 (a malformed file, named in one error line).
/// </summary>
public sealed class EvidenceVerifyCliTests(EvidenceFiles files) : IClassFixture<EvidenceFiles>
{
    public static TheoryData<string> Banks => new() { "sha1", "sha256" };

    [Theory]
    [MemberData(nameof(Banks))]
    public async Task Good_evidence_passes_every_check_with_honest_per_pcr_results(string bank)
    {
        var json = (await VerifyAsync("--nonce", files.Nonce, "--json")).Succeeded().Json();

        Assert.True((bool)json["passed"]!);
        Assert.All(json["checks"]!.AsArray(), c => Assert.Equal("passed", (string?)c!["status"]));
        var pcrs = json["pcrs"]!.AsArray();
        Assert.Equal(["sha1", "sha256", "sha384"], pcrs.Select(p => (string?)p!["bank"]).Distinct().Order());
        var expected = TestData.Entry(EvidenceFiles.LogName).ExpectedPcrs[bank];
        foreach (int pcr in new[] { 0, 1, 2, 3, 4, 5, 6, 7 })
        {
            var row = Row(pcrs, bank, pcr);
            Assert.Equal(("quoted-and-logged", "attested"), ((string?)row["coverage"], (string?)row["verdict"]));
            Assert.Equal(expected[pcr], (string?)row["value"]);
        }

        // PCR 10: quoted, never extended by this log (no IMA in swtpm): its value is attested to be the reset value.
        Assert.Equal(("quoted-not-logged", "attested"), ((string?)Row(pcrs, bank, 10)["coverage"], (string?)Row(pcrs, bank, 10)["verdict"]));
        Assert.Equal(new string('0', expected[0].Length), (string?)Row(pcrs, bank, 10)["value"]);

        // PCRs 8, 9 and 14: in the log but not in the quote, so nothing about them is attested.
        foreach (int pcr in new[] { 8, 9, 14 })
        {
            Assert.Equal(("logged-not-quoted", "not-quoted"), ((string?)Row(pcrs, bank, pcr)["coverage"], (string?)Row(pcrs, bank, pcr)["verdict"]));
        }

        // The log's SHA-384 bank: selected, signed inactive by the TPM (nothing could extend it): nothing in it is attested.
        Assert.Equal(["sha384"], json["unquotedLogBanks"]!.AsArray().Select(b => (string?)b));
        Assert.All(pcrs.Where(p => (string?)p!["bank"] == "sha384"), p => Assert.Equal("not-quoted", (string?)p!["verdict"]));
        Assert.True((bool?)json["secureBoot"]!["enabled"]);
        Assert.True((bool)json["secureBootAttested"]!);
    }

    [Fact]
    public async Task Without_a_nonce_freshness_is_reported_not_checked_never_passed()
    {
        var result = (await VerifyAsync("--json")).Succeeded();

        Assert.Equal("not-checked", (string?)Check(result.Json(), "nonce")["status"]);
        var text = (await VerifyAsync()).Succeeded().StdOut;
        Assert.Matches(@"nonce\s+not-checked", text);
        Assert.Contains("Evidence: PASSED", text, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Attack", "A120")]
    public async Task A_bank_root_filled_with_a_good_log_fails_the_bank_rule_with_the_refusal_exit_code()
    {
        // Signature, nonce and digest all verify (the SHA-256 bank really holds this log's replay), yet the firmware
        // extended only SHA-1: the quote does not select it, as the service's bank rule requires (PcrBankNotQuoted).
        var result = await HgsCli.RunAsync(["evidence", "verify", "--ak-public", files.RootFilledAkPublic, "--quote", files.RootFilledQuote,
            "--signature", files.RootFilledSignature, "--event-log", files.Log, "--nonce", files.Nonce, "--json"], environment: null);

        Assert.Contains("pcrBanks (PcrBankNotQuoted)", result.FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        var json = result.Json();
        Assert.False((bool)json["passed"]!);
        Assert.Equal(("failed", "PcrBankNotQuoted"), ((string?)Check(json, "pcrBanks")["status"], (string?)Check(json, "pcrBanks")["code"]));
        Assert.Equal("passed", (string?)Check(json, "pcrDigest")["status"]);
        Assert.All(json["pcrs"]!.AsArray(), p => Assert.NotEqual("attested", (string?)p!["verdict"]));
        Assert.False((bool)json["secureBootAttested"]!);
    }

    [Theory]
    [Trait("Attack", "A82")]
    [MemberData(nameof(Banks))]
    public async Task A_tampered_event_log_fails_the_pcr_digest_check(string bank)
    {
        // Change one PCR 4 (boot manager) measurement in one quoted bank, as an attacker hiding a different bootloader would.
        byte[] log = TestData.ReadLog(EvidenceFiles.LogName);
        var algorithm = bank == "sha1" ? TpmAlgorithm.Sha1 : TpmAlgorithm.Sha256;
        var measurement = EventLogParser.Parse(log).Events.First(e => e.Pcr == 4 && e.IsExtended);
        int within = log.AsSpan(measurement.Offset, measurement.Size).IndexOf(measurement.Digests[algorithm]);
        Assert.True(within > 0);
        int at = measurement.Offset + within;
        log[at] ^= 0x01;
        string tampered = files.Write("tampered-log", log);

        var result = await VerifyAsync(["--nonce", files.Nonce, "--json"], log: tampered);

        string error = result.FailedWithOneErrorLine(ExitCodes.Refused);
        Assert.Contains("pcrDigest (PcrDigestMismatch)", error, StringComparison.Ordinal);
        var json = result.Json();
        Assert.False((bool)json["passed"]!);
        Assert.Equal(("failed", "PcrDigestMismatch"), ((string?)Check(json, "pcrDigest")["status"], (string?)Check(json, "pcrDigest")["code"]));
        Assert.Equal("passed", (string?)Check(json, "signature")["status"]);
        Assert.Equal("not-attested", (string?)Row(json["pcrs"]!.AsArray(), bank, 4)["verdict"]);
        Assert.False((bool)json["secureBootAttested"]!);
    }

    [Fact]
    public async Task A_wrong_nonce_fails_the_nonce_check()
    {
        string other = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

        var result = await VerifyAsync("--nonce", other, "--json");

        Assert.Contains("nonce (NonceMismatch)", result.FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        var json = result.Json();
        Assert.Equal(("failed", "NonceMismatch"), ((string?)Check(json, "nonce")["status"], (string?)Check(json, "nonce")["code"]));
        Assert.Equal("passed", (string?)Check(json, "pcrDigest")["status"]);
    }

    [Fact]
    [Trait("Attack", "A82")]
    public async Task A_quote_signed_by_another_AK_fails_the_signature_check()
    {
        var result = await VerifyAsync(["--nonce", files.Nonce, "--json"], otherAk: true);

        Assert.Contains("signature (BadSignature)", result.FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        var json = result.Json();
        Assert.Equal(("failed", "BadSignature"), ((string?)Check(json, "signature")["status"], (string?)Check(json, "signature")["code"]));
        // Its PCR digest still matches the log (same TPM, same boot), yet nothing is attested without a valid signature.
        Assert.All(json["pcrs"]!.AsArray(), p => Assert.NotEqual("attested", (string?)p!["verdict"]));
        Assert.False((bool)json["secureBootAttested"]!);
    }

    [Fact]
    public async Task A_truncated_quote_file_is_bad_input_naming_the_file()
    {
        byte[] quote = File.ReadAllBytes(files.Quote());
        string truncated = files.Write("truncated-quote", quote[..(quote.Length - 5)]);

        var result = await HgsCli.RunAsync("evidence", "verify", "--ak-public", files.AkPublic, "--quote", truncated,
            "--signature", files.Signature(), "--event-log", files.Log, "--nonce", files.Nonce, "--json");

        string error = result.FailedWithOneErrorLine(ExitCodes.BadInput);
        Assert.Contains($"quote '{truncated}' is malformed", error, StringComparison.Ordinal);
        // No report: with --json the only document on stdout is the failure.
        Assert.Equal(("BadInput", ExitCodes.BadInput), ((string?)result.Json()["error"]!["code"], (int)result.Json()["error"]!["exitCode"]!));
    }

    [Fact]
    public async Task A_required_pcr_outside_the_quote_fails_the_selection_check_and_bad_arguments_are_bad_input()
    {
        (await VerifyAsync("--pcrs", "sha256:0-7,10")).Succeeded();

        var result = await VerifyAsync("--pcrs", "sha256:0-7,11", "--json");
        Assert.Contains("pcrSelection (PcrSelectionMismatch)", result.FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        Assert.Equal("not-checked", (string?)Check(result.Json(), "pcrDigest")["status"]);

        Assert.Contains("--pcrs", (await VerifyAsync("--pcrs", "sha256:0-99")).FailedWithOneErrorLine(ExitCodes.BadInput), StringComparison.Ordinal);
        Assert.Contains("--nonce", (await VerifyAsync("--nonce", "xyz")).FailedWithOneErrorLine(ExitCodes.BadInput), StringComparison.Ordinal);
        string junk = files.Write("junk-ak", [0x00, 0x02, 0xff, 0xff]);
        var badAk = await HgsCli.RunAsync("evidence", "verify", "--ak-public", junk, "--quote", files.Quote(),
            "--signature", files.Signature(), "--event-log", files.Log);
        Assert.Contains($"'{junk}' is malformed", badAk.FailedWithOneErrorLine(ExitCodes.BadInput), StringComparison.Ordinal);
    }

    private Task<CliResult> VerifyAsync(params string[] extra) => VerifyAsync(extra, otherAk: false);

    private Task<CliResult> VerifyAsync(string[] extra, bool otherAk = false, string? log = null) =>
        HgsCli.RunAsync(["evidence", "verify", "--ak-public", files.AkPublic, "--quote", files.Quote(otherAk),
            "--signature", files.Signature(otherAk), "--event-log", log ?? files.Log, .. extra], environment: null);

    private static JsonNode Check(JsonNode report, string name) =>
        report["checks"]!.AsArray().Single(c => (string?)c!["name"] == name)!;

    private static JsonNode Row(JsonArray pcrs, string bank, int pcr) => pcrs.Single(p => (string?)p!["bank"] == bank && (int)p!["pcr"]! == pcr)!;
}
