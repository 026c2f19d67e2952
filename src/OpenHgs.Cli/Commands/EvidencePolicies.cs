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
/// not-checked when the quote fails the bank rule or does not attest every PCR the policies would read.
/// <see cref="Fresh"/> is false unless the quote's nonce was given and matched: the service evaluates only a quote over
/// a nonce it issued, so without one the result describes some boot of that TPM, not necessarily the current one.
/// </summary>
internal sealed record EvidencePolicyEvaluation(string Source, int PolicyVersion, EvidenceCheckStatus Status, string Detail, IReadOnlyList<EvidencePolicyResult> Results, bool Fresh)
{
    /// <summary>The warning printed when <see cref="Fresh"/> is false.</summary>
    public const string NotFreshWarning = "not fresh: no --nonce was checked, so this quote may be a replay of an earlier boot; the service evaluates only a quote over a nonce it issued";

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

        bool fresh = report.Check(EvidenceVerifier.NonceCheck).Status == EvidenceCheckStatus.Passed;
        if (report.Check(EvidenceVerifier.PcrBanksCheck).Status != EvidenceCheckStatus.Passed)
        {
            return NotChecked(source, set, fresh, "the quote does not pass the bank rule (pcrBanks): the service refuses it before any policy");
        }

        // As the service (TpmEvidenceChecks.VerifyQuote): policies read the bank the TPM signed as active, never the one
        // the log merely declares.
        if (AttestedPcrs.PolicyBank(report.ActiveBanks) is not { } bank)
        {
            return NotChecked(source, set, fresh, "the TPM has neither the SHA-256 nor the SHA-1 bank active, the banks policies read");
        }

        // Policies read the log's events in the policy bank: only a quote that attests every such PCR makes them evidence.
        var unattested = AttestedPcrs.For(log, bank).Pcrs
            .Where(pcr => !report.Pcrs.Any(r => r.Bank == bank && r.Pcr == pcr && r.Verdict == PcrVerdict.Attested))
            .ToList();
        if (unattested.Count > 0)
        {
            return NotChecked(source, set, fresh, $"the quote does not attest the log's {bank.Name()} PCR(s) {string.Join(",", unattested)}, which the policies read");
        }

        var outcomes = new PolicySnapshot(set.PolicyVersion, states, baselines).Evaluate(PolicyEvidence.Of(log, baselines, bank));
        var results = outcomes.Select(o => new EvidencePolicyResult(o.Name, PolicyService.Name(o.State), o.Result.Passed, o.Result.Message)).ToList();
        var failed = outcomes.Where(o => o.State == PolicyState.Enabled && !o.Result.Passed).Select(o => o.Name).ToList();
        return failed.Count == 0
            ? new(source, set.PolicyVersion, EvidenceCheckStatus.Passed, $"every enabled policy passed ({outcomes.Count} evaluated)", results, fresh)
            : new(source, set.PolicyVersion, EvidenceCheckStatus.Failed, "failed: " + string.Join(",", failed), results, fresh);
    }

    private static EvidencePolicyEvaluation NotChecked(string source, PolicySet set, bool fresh, string why) =>
        new(source, set.PolicyVersion, EvidenceCheckStatus.NotChecked, why, [], fresh);

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
