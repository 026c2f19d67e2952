using OpenHgs.Protocol.Wire;
using OpenHgs.Service;
using OpenHgs.Service.Policies;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Cli.Commands;

/// <summary>One policy's result over offline evidence.</summary>
internal sealed record EvidencePolicyResult(string Name, string State, bool Passed, string Message);

/// <summary>
/// The service's policies over offline evidence (<c>hgs evidence verify --policy-from URL</c>): <see cref="Status"/> is
/// passed when every enabled policy passed, failed when one did (staged policies are reported and never fail), and
/// not-checked when the quote does not attest every PCR the policies would read.
/// </summary>
internal sealed record EvidencePolicyEvaluation(string Source, int PolicyVersion, EvidenceCheckStatus Status, string Detail, IReadOnlyList<EvidencePolicyResult> Results)
{
    /// <summary>The enabled policies that failed (what fails the evidence).</summary>
    public IReadOnlyList<string> FailedPolicies => Results.Where(r => r.State == PolicyService.Name(PolicyState.Enabled) && !r.Passed).Select(r => r.Name).ToList();
}

/// <summary>Evaluates a <see cref="PolicySet"/> exported by a service exactly as that service would (same catalog, states, baselines).</summary>
internal static class EvidencePolicies
{
    public static EvidencePolicyEvaluation Evaluate(string source, PolicySet set, EventLog log, EvidenceReport report)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(report);
        var states = new Dictionary<string, PolicyState>(StringComparer.Ordinal);
        foreach (var policy in PolicyCatalog.All)
        {
            var named = set.Policies.FirstOrDefault(p => p.Name == policy.Name)
                ?? throw new CliException($"the service at {source} does not name the policy {policy.Name} (another OpenHGS version?): its policies cannot be evaluated here.", ExitCodes.Unavailable);
            states[policy.Name] = Parse(named.State, source);
        }

        List<Baseline> baselines;
        try
        {
            baselines = set.Baselines.Select(b => Baseline.FromDocument(b.Name, b.Document)).ToList();
        }
        catch (ServiceException ex)
        {
            throw new CliException($"the service at {source} sent a baseline this CLI cannot read: {ex.Message}", ExitCodes.Unavailable);
        }

        if (AttestedPcrs.PolicyBank(log) is not { } bank)
        {
            return NotChecked(source, set, "the event log declares neither SHA-256 nor SHA-1, the banks policies read");
        }

        // Policies read the log's events in the policy bank: only a quote that attests every such PCR makes them evidence.
        var unattested = AttestedPcrs.For(log, bank).Pcrs
            .Where(pcr => !report.Pcrs.Any(r => r.Bank == bank && r.Pcr == pcr && r.Verdict == PcrVerdict.Attested))
            .ToList();
        if (unattested.Count > 0)
        {
            return NotChecked(source, set, $"the quote does not attest the log's {bank.Name()} PCR(s) {string.Join(",", unattested)}, which the policies read");
        }

        var outcomes = new PolicySnapshot(set.PolicyVersion, states, baselines).Evaluate(PolicyEvidence.Of(log, baselines));
        var results = outcomes.Select(o => new EvidencePolicyResult(o.Name, PolicyService.Name(o.State), o.Result.Passed, o.Result.Message)).ToList();
        var failed = outcomes.Where(o => o.State == PolicyState.Enabled && !o.Result.Passed).Select(o => o.Name).ToList();
        return failed.Count == 0
            ? new(source, set.PolicyVersion, EvidenceCheckStatus.Passed, $"every enabled policy passed ({outcomes.Count} evaluated)", results)
            : new(source, set.PolicyVersion, EvidenceCheckStatus.Failed, "failed: " + string.Join(",", failed), results);
    }

    private static EvidencePolicyEvaluation NotChecked(string source, PolicySet set, string why) =>
        new(source, set.PolicyVersion, EvidenceCheckStatus.NotChecked, why, []);

    private static PolicyState Parse(string state, string source)
    {
        try
        {
            return PolicyService.ParseState(state);
        }
        catch (ServiceException)
        {
            throw new CliException($"the service at {source} sent an unknown policy state '{state}'.", ExitCodes.Unavailable);
        }
    }
}
