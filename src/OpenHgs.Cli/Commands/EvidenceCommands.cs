using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Marshalling;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// <c>hgs evidence verify</c>: checks a host's quote and event log offline, from the files tpm2-tools writes (needs no
/// service). Exit 0 when every check that ran passed, 1 when one failed, 2 when a file is unreadable or malformed.
/// </summary>
internal static class EvidenceCommands
{
    // An AK public area, a TPMS_ATTEST and a TPMT_SIGNATURE are each well under 2 KiB.
    private const int MaxStructureFile = 64 * 1024;

    public static Command Build()
    {
        var group = new Command("evidence", "Verify TPM evidence (quote, signature, event log) offline.");
        group.Subcommands.Add(Verify());
        return group;
    }

    private static Command Verify()
    {
        var akPublic = CliOptions.RequiredPath("--ak-public", "The attestation key's public area (tpm2_readpublic -o: TPM2B_PUBLIC or TPMT_PUBLIC).");
        var quote = CliOptions.RequiredPath("--quote", "The quote message (tpm2_quote -m: TPMS_ATTEST).");
        var signature = CliOptions.RequiredPath("--signature", "The quote signature (tpm2_quote -s: TPMT_SIGNATURE).");
        var eventLog = CliOptions.RequiredPath("--event-log", "The host's binary TCG event log (binary_bios_measurements) of the quoted boot.");
        var nonce = new Option<string>("--nonce") { Description = "The qualifying data given to tpm2_quote -q (hex). Without it freshness is reported as not checked." };
        var pcrs = new Option<string>("--pcrs") { Description = "PCRs the quote must cover, tpm2-tools syntax (e.g. sha256:0,1,2,3,4,5,6,7+sha1:7)." };
        var policyFrom = new Option<string>("--policy-from")
        {
            Description = "Also evaluate this service's policies and baselines (its URL; the admin credential as for admin commands: --token-file, HGS_ADMIN_TOKEN_FILE, …).",
        };
        var credentials = new AdminCredentialOptions();
        var json = CliOptions.Json();
        var command = new Command("verify",
            "Check the quote's signature with the AK, its nonce, the service's PCR bank rule, and that the event log replays to the quoted PCRs; print per-PCR results and the Secure Boot state.")
        {
            akPublic, quote, signature, eventLog, nonce, pcrs, policyFrom, json,
        };
        foreach (var option in credentials.Options)
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            var input = Load(parse.GetValue(akPublic)!, parse.GetValue(quote)!, parse.GetValue(signature)!, parse.GetValue(eventLog)!,
                parse.GetValue(nonce), parse.GetValue(pcrs));
            var report = EvidenceVerifier.Verify(input);
            EvidencePolicyEvaluation? policies = null;
            if (parse.GetValue(policyFrom) is { } source)
            {
                // Fetched before anything is printed: a service that cannot answer leaves one error line, not half a report.
                string[] urls = CliOptions.ServiceUrls(source, "--policy-from");
                var (token, tls) = credentials.Resolve(parse);
                using var client = new OpenHgs.Client.Tpm.TpmAdminClient(urls, token, tls);
                var set = await client.ExportPolicySetAsync(ct).ConfigureAwait(false);
                policies = EvidencePolicies.Evaluate(source, set, input.Log, report);
            }

            Console.Out.Write(TerminalText.InertLines(parse.GetValue(json) ? ToJson(input, report, policies) : ToText(input, report, policies)));
            var failed = report.Checks.Where(c => c.Status == EvidenceCheckStatus.Failed).Select(c => $"{c.Name} ({c.Failure})").ToList();
            if (policies is { Status: EvidenceCheckStatus.Failed })
            {
                failed.Add($"policies ({string.Join(",", policies.FailedPolicies)})");
            }

            if (failed.Count == 0)
            {
                return ExitCodes.Success;
            }

            // The report is already on stdout (as JSON with --json): no second document for the failure.
            throw CliErrors.AfterResult(new CliException("evidence check failed: " + string.Join(", ", failed), ExitCodes.Refused), parse.GetValue(json));
        }));
        return command;
    }

    private static EvidenceInput Load(string akPath, string quotePath, string signaturePath, string logPath, string? nonceHex, string? pcrs)
    {
        byte[]? nonce = nonceHex is null ? null : ParseNonce(nonceHex);
        var required = pcrs is null ? [] : ParseSelection(pcrs);
        var ak = ParseFile(akPath, "attestation key public area", ParsePublic).Value;
        // The signature is checked over exactly the bytes parsed here: the file is read once.
        var (attest, attestBytes) = ParseFile(quotePath, "quote", bytes => TpmsAttest.Parse(bytes));
        var sig = ParseFile(signaturePath, "signature", bytes => TpmtSignature.Parse(bytes)).Value;
        var log = EventLogCommands.Load(logPath);
        return new EvidenceInput(ak, attestBytes, attest, sig, log, nonce, required);
    }

    // tpm2_readpublic -o writes a TPM2B_PUBLIC (size-prefixed); a bare TPMT_PUBLIC starts with its type (0x0001 or 0x0023),
    // which can never equal the remaining length of a complete structure, so the two are told apart without guessing.
    private static TpmtPublic ParsePublic(byte[] bytes)
    {
        if (bytes.Length >= 2 && ((bytes[0] << 8) | bytes[1]) == bytes.Length - 2)
        {
            var reader = new TpmReader(bytes);
            var key = TpmtPublic.ReadSized(reader);
            reader.EnsureEnd("TPM2B_PUBLIC");
            return key;
        }

        return TpmtPublic.Parse(bytes);
    }

    private static (T Value, byte[] Bytes) ParseFile<T>(string path, string what, Func<byte[], T> parse)
    {
        byte[] bytes = CliOutput.ReadFile(path, what, MaxStructureFile);
        try
        {
            return (parse(bytes), bytes);
        }
        catch (TpmFormatException ex)
        {
            throw new CliException($"{what} '{path}' is malformed: {ex.Message}");
        }
    }

    private static byte[] ParseNonce(string hex)
    {
        try
        {
            byte[] nonce = Convert.FromHexString(hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? hex[2..] : hex);
            return nonce.Length is > 0 and <= 64 ? nonce : throw new CliException("--nonce must be 1 to 64 bytes of hex.");
        }
        catch (FormatException)
        {
            throw new CliException("--nonce is not hex.");
        }
    }

    /// <summary>Parses tpm2-tools' PCR selection syntax: <c>BANK:N[,N…][+BANK:…]</c>, N a PCR index or a range A-B.</summary>
    private static IReadOnlyList<PcrSelection> ParseSelection(string text)
    {
        var selections = new List<PcrSelection>();
        foreach (string part in text.Split('+', StringSplitOptions.TrimEntries))
        {
            string[] bankAndPcrs = part.Split(':', 2, StringSplitOptions.TrimEntries);
            if (bankAndPcrs.Length != 2 || !TpmAlgorithms.TryParseName(bankAndPcrs[0], out var bank))
            {
                throw new CliException($"--pcrs: '{part}' is not BANK:PCRS (e.g. sha256:0,1,2,3,4,5,6,7).");
            }

            var indices = new List<int>();
            foreach (string item in bankAndPcrs[1].Split(',', StringSplitOptions.TrimEntries))
            {
                string[] range = item.Split('-', 2);
                if (!int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out int first)
                    || !int.TryParse(range[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int last)
                    || first > last || last >= PcrSelection.MaxSelectBytes * 8)
                {
                    throw new CliException($"--pcrs: '{item}' is not a PCR index 0-{(PcrSelection.MaxSelectBytes * 8) - 1} or a range.");
                }

                indices.AddRange(Enumerable.Range(first, last - first + 1));
            }

            selections.Add(PcrSelection.Create(bank, indices));
        }

        return selections;
    }

    private static string ToText(EvidenceInput input, EvidenceReport report, EvidencePolicyEvaluation? policies)
    {
        var s = new StringBuilder();
        int failed = report.Checks.Count(c => c.Status == EvidenceCheckStatus.Failed) + (policies?.Status == EvidenceCheckStatus.Failed ? 1 : 0);
        s.Append(CultureInfo.InvariantCulture, $"Evidence: {(failed == 0 ? "PASSED" : $"FAILED ({failed} check(s) failed)")}\n");
        foreach (var check in report.Checks)
        {
            string code = check.Failure is { } f ? $"{f}: " : string.Empty;
            s.Append(CultureInfo.InvariantCulture, $"  {check.Name,-13} {StatusName(check.Status),-12} {code}{check.Detail}\n");
        }

        if (policies is not null)
        {
            s.Append(CultureInfo.InvariantCulture, $"  {"policies",-13} {StatusName(policies.Status),-12} {policies.Detail} (policy version {policies.PolicyVersion} from {policies.Source})\n");
            if (!policies.Fresh)
            {
                s.Append(CultureInfo.InvariantCulture, $"    warning: {EvidencePolicyEvaluation.NotFreshWarning}\n");
            }

            foreach (var result in policies.Results)
            {
                s.Append(CultureInfo.InvariantCulture, $"    {result.Name,-26} {result.State,-8} {(result.Passed ? "passed" : "FAILED"),-7} {result.Message}\n");
            }
        }

        s.Append(CultureInfo.InvariantCulture, $"Attestation key: {input.AttestationKey.Type.Name()}, Name {Convert.ToHexStringLower(input.AttestationKey.ComputeName())}\n");
        s.Append(CultureInfo.InvariantCulture, $"Quote: resetCount {input.Attest.ClockInfo.ResetCount}, restartCount {input.Attest.ClockInfo.RestartCount}, extraData {Convert.ToHexStringLower(input.Attest.ExtraData)}\n");
        s.Append("PCRs:\n");
        foreach (var pcr in report.Pcrs)
        {
            string value = pcr.Value is null ? "(bank not replayable)" : Convert.ToHexStringLower(pcr.Value);
            s.Append(CultureInfo.InvariantCulture, $"  {pcr.Bank.Name(),-7} {pcr.Pcr,2}  {CoverageName(pcr.Coverage),-18} {VerdictName(pcr.Verdict),-12} {value}\n");
        }

        if (report.UnquotedLogBanks.Count > 0)
        {
            s.Append(CultureInfo.InvariantCulture, $"  log banks the quote does not cover (not attested): {string.Join(", ", report.UnquotedLogBanks.Select(b => b.Name()))}\n");
        }

        var sb = report.SecureBoot;
        string enabled = sb.Enabled switch { true => "enabled", false => "disabled", null => "not measured" };
        string verified = sb.SecureBoot?.DataVerified == true ? "variable data verified" : "variable data NOT verified";
        string attested = report.SecureBootAttested ? "PCR 7 attested by the quote" : "NOT attested (PCR 7 not quoted or the quote did not verify)";
        s.Append(CultureInfo.InvariantCulture, $"Secure Boot: {enabled}; {verified}; {attested}; UEFI debug mode {(sb.DebugModeMeasured ? "MEASURED" : "not measured")}\n");
        return s.ToString();
    }

    private static string ToJson(EvidenceInput input, EvidenceReport report, EvidencePolicyEvaluation? policies)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteBoolean("passed", report.Passed && policies?.Status != EvidenceCheckStatus.Failed);
            w.WriteStartArray("checks");
            foreach (var check in report.Checks)
            {
                w.WriteStartObject();
                w.WriteString("name", check.Name);
                w.WriteString("status", StatusName(check.Status));
                w.WriteString("code", check.Failure?.ToString());
                w.WriteString("detail", check.Detail);
                w.WriteEndObject();
            }

            w.WriteEndArray();

            w.WriteStartObject("attestationKey");
            w.WriteString("type", input.AttestationKey.Type.Name());
            w.WriteString("name", Convert.ToHexStringLower(input.AttestationKey.ComputeName()));
            w.WriteEndObject();

            WriteQuote(w, input);

            w.WriteStartObject("eventLog");
            w.WriteString("format", input.Log.Format == EventLogFormat.CryptoAgile ? "crypto-agile" : "sha1-legacy");
            w.WriteStartArray("banks");
            input.Log.Banks.ToList().ForEach(b => w.WriteStringValue(b.Name()));
            w.WriteEndArray();
            w.WriteNumber("events", input.Log.Events.Count);
            w.WriteEndObject();

            w.WriteStartArray("pcrs");
            foreach (var pcr in report.Pcrs)
            {
                w.WriteStartObject();
                w.WriteString("bank", pcr.Bank.Name());
                w.WriteNumber("pcr", pcr.Pcr);
                w.WriteString("coverage", CoverageName(pcr.Coverage));
                w.WriteString("verdict", VerdictName(pcr.Verdict));
                w.WriteString("value", pcr.Value is null ? null : Convert.ToHexStringLower(pcr.Value));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("unquotedLogBanks");
            report.UnquotedLogBanks.ToList().ForEach(b => w.WriteStringValue(b.Name()));
            w.WriteEndArray();

            EventLogReport.WriteSecureBoot(w, report.SecureBoot);
            w.WriteBoolean("secureBootAttested", report.SecureBootAttested);
            if (policies is not null)
            {
                WritePolicies(w, policies);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WritePolicies(Utf8JsonWriter w, EvidencePolicyEvaluation policies)
    {
        w.WriteStartObject("policies");
        w.WriteString("source", policies.Source);
        w.WriteNumber("policyVersion", policies.PolicyVersion);
        w.WriteString("status", StatusName(policies.Status));
        w.WriteString("detail", policies.Detail);
        w.WriteBoolean("fresh", policies.Fresh);
        w.WriteStartArray("results");
        foreach (var result in policies.Results)
        {
            w.WriteStartObject();
            w.WriteString("name", result.Name);
            w.WriteString("state", result.State);
            w.WriteBoolean("passed", result.Passed);
            w.WriteString("message", result.Message);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteQuote(Utf8JsonWriter w, EvidenceInput input)
    {
        var attest = input.Attest;
        w.WriteStartObject("quote");
        w.WriteString("type", attest.Type switch { TpmsAttest.AttestQuote => "quote", TpmsAttest.AttestCertify => "certify", _ => $"0x{attest.Type:x4}" });
        w.WriteString("qualifiedSigner", Convert.ToHexStringLower(attest.QualifiedSigner));
        w.WriteString("extraData", Convert.ToHexStringLower(attest.ExtraData));
        w.WriteNumber("clock", attest.ClockInfo.Clock);
        w.WriteNumber("resetCount", attest.ClockInfo.ResetCount);
        w.WriteNumber("restartCount", attest.ClockInfo.RestartCount);
        w.WriteString("firmwareVersion", attest.FirmwareVersion.ToString("x16", CultureInfo.InvariantCulture));
        w.WriteString("signatureScheme", input.Signature.SignatureAlgorithm.Name());
        w.WriteString("signatureHash", input.Signature.Hash.Name());
        if (attest.Attested is QuoteInfo quote)
        {
            w.WriteStartObject("selection");
            foreach (var selection in quote.PcrSelection)
            {
                w.WriteStartArray(selection.Hash.Name());
                selection.Pcrs.ToList().ForEach(w.WriteNumberValue);
                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteString("pcrDigest", Convert.ToHexStringLower(quote.PcrDigest));
        }

        w.WriteEndObject();
    }

    private static string StatusName(EvidenceCheckStatus status) => status switch
    {
        EvidenceCheckStatus.Passed => "passed",
        EvidenceCheckStatus.Failed => "failed",
        _ => "not-checked",
    };

    private static string CoverageName(PcrCoverage coverage) => coverage switch
    {
        PcrCoverage.QuotedAndLogged => "quoted-and-logged",
        PcrCoverage.QuotedNotLogged => "quoted-not-logged",
        _ => "logged-not-quoted",
    };

    private static string VerdictName(PcrVerdict verdict) => verdict switch
    {
        PcrVerdict.Attested => "attested",
        PcrVerdict.NotAttested => "not-attested",
        _ => "not-quoted",
    };
}
