using System.Text.Json;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Service.Policies;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Bench;

/// <summary>CPU ms per call of the checks a TPM attestation runs before its commit (in process, one thread).</summary>
/// <param name="EvaluateMs">The whole decision from the evidence, as the service makes it (<see cref="TpmEvidenceChecks.Evaluate"/>).</param>
public sealed record TpmStages(double LoadBaselinesMs, int Baselines, double ParseAndReplayMs, double VerifyQuoteAndCertifyMs, double PoliciesMs, double EvaluateMs)
{
    public double TotalMs => LoadBaselinesMs + ParseAndReplayMs + VerifyQuoteAndCertifyMs + PoliciesMs;
}

/// <summary>
/// Times the service's own functions, not copies of them: reading the policy snapshot (every registered baseline
/// document deserialised, its log parsed and replayed, as <see cref="PolicyService.LoadAsync"/> does once per policy
/// version), and the steps of <see cref="TpmEvidenceChecks.Evaluate"/> — parsing and replaying the host's event log,
/// verifying the quote and the host key certification, evaluating the default policies — and the whole of it.
/// </summary>
public static class TpmStageBench
{
    public static TpmStages Run(byte[] baselineDocument, TpmEvidence evidence, byte[] nonce, TimeSpan perStage)
    {
        ArgumentNullException.ThrowIfNull(baselineDocument);
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(nonce);
        Baseline LoadBaseline() => Baseline.FromDocument("bench", JsonSerializer.Deserialize(baselineDocument, WireJson.Default.BaselineDocument)!);
        var baselines = new[] { LoadBaseline() };
        var decoded = TpmEvidenceChecks.Decode(evidence);
        var snapshot = new PolicySnapshot(1, PolicyCatalog.All.ToDictionary(p => p.Name, p => p.DefaultState, StringComparer.Ordinal), baselines);
        var log = EventLogParser.Parse(decoded.EventLog);
        var policyEvidence = PolicyEvidence.Of(log, baselines);
        if (!TpmEvidenceChecks.TryReplay(log, out var replayed, out var replayFailure))
        {
            throw new InvalidOperationException($"the bench's event log does not replay: {replayFailure.Message}");
        }

        void Verify()
        {
            if ((TpmEvidenceChecks.VerifyQuote(decoded, nonce, log, replayed, out var policyBank) ?? TpmEvidenceChecks.VerifyHostKey(decoded, nonce, TpmEvidenceChecks.Boot(replayed, policyBank))) is { } failure)
            {
                throw new InvalidOperationException($"the bench's TPM evidence does not verify: {failure.Code}: {failure.Message}");
            }
        }

        Verify();
        if (TpmEvidenceChecks.Evaluate(snapshot, decoded, nonce).Refused is { } refused)
        {
            throw new InvalidOperationException("the bench's host is refused: " + string.Join("; ", refused.Failures.Select(f => $"{f.Policy ?? f.Code.ToString()}: {f.Message}")));
        }

        return new TpmStages(
            ReleaseStageBench.Time(perStage, () => LoadBaseline()),
            baselines.Length,
            ReleaseStageBench.Time(perStage, () => TpmEvidenceChecks.TryReplay(EventLogParser.Parse(decoded.EventLog), out _, out _)),
            ReleaseStageBench.Time(perStage, Verify),
            ReleaseStageBench.Time(perStage, () => snapshot.Evaluate(policyEvidence)),
            ReleaseStageBench.Time(perStage, () => TpmEvidenceChecks.Evaluate(snapshot, decoded, nonce)));
    }
}
