using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs keys custody</c> for a reader: per key its result, per copy what the token says, then each finding.</summary>
internal static class KeyCustodyText
{
    public static void Print(KeyCustodyReport report)
    {
        foreach (var key in report.Keys)
        {
            int warnings = key.Findings.Count(f => f.Severity == "warning");
            string result = key.Passed ? "passed" : "FAILED";
            CliOutput.Line($"{key.Label} ({key.Role}{(key.FabricKeyId is { } id && id != key.Label ? $" {id}" : string.Empty)}): {result}{(warnings > 0 ? $", {warnings} warning(s)" : string.Empty)}");
            foreach (var copy in key.Copies)
            {
                CliOutput.Line($"  {copy.Holder}: {Describe(copy)}");
            }

            foreach (var finding in key.Findings)
            {
                string mark = finding.Accepted ? " [critical, ACCEPTED by --accept-key-custody]" : finding.Critical ? " [critical]" : string.Empty;
                CliOutput.Line($"  {finding.Severity,-7} {finding.Code} on {finding.Holder}: {finding.Message}{mark}");
            }
        }

        bool software = report.Keys.Any(k => k.Findings.Any(f => f.Code == "SoftwareKeyStore"));
        CliOutput.Line(!report.Passed
            ? $"{report.Keys.Count} keys checked: {report.Keys.Count(k => !k.Passed)} cannot be shown never to have left their store."
            : software
                ? $"{report.Keys.Count} keys checked: held by the software key store (development only), not an HSM."
                : $"{report.Keys.Count} keys checked: each can be shown never to have left its store.");
    }

    private static string Describe(KeyCopyInfo copy) => copy.Attributes is { } a
        ? string.Join(", ",
            Flag(a.Sensitive, "sensitive", "NOT sensitive"),
            Flag(a.AlwaysSensitive, "always sensitive", "NOT always sensitive"),
            Flag(a.Extractable, "EXTRACTABLE", "not extractable"),
            Flag(a.NeverExtractable, "never extractable", "extractable once"),
            Flag(a.Local, "generated on the token", "imported"),
            Flag(a.Modifiable, "modifiable", "not modifiable"))
          + $"; operations: {(a.Operations.Count == 0 ? "none" : string.Join(" ", a.Operations))}"
        : copy.Problem is { } problem ? $"{copy.Kind}: {problem}" : copy.Kind;

    private static string Flag(bool? value, string whenTrue, string whenFalse) => value switch
    {
        true => whenTrue,
        false => whenFalse,
        null => $"{whenTrue}: not reported",
    };
}
