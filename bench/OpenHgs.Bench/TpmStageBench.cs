using System.Text.Json;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Policies;
using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;
using OpenHgs.Tpm.Structures;
using OpenHgs.Tpm.Verification;

namespace OpenHgs.Bench;

/// <summary>CPU ms per call of the checks a TPM attestation runs inside its write transaction (in process, one thread).</summary>
public sealed record TpmStages(double LoadBaselinesMs, int Baselines, double ParseAndReplayMs, double VerifyQuoteAndCertifyMs, double PoliciesMs)
{
    public double TotalMs => LoadBaselinesMs + ParseAndReplayMs + VerifyQuoteAndCertifyMs + PoliciesMs;
}

/// <summary>
/// Times, as <c>TpmAttestationService.DecideAsync</c> runs them: reading the policy snapshot (every registered baseline
/// document deserialised, its log parsed and replayed — <see cref="PolicyService.LoadAsync"/>), parsing and replaying the
/// host's event log, verifying the quote and the host key certification, and evaluating the default policies.
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
        byte[] eventLog = Convert.FromBase64String(evidence.EventLog);
        var ak = TpmtPublic.Parse(Convert.FromBase64String(evidence.AkPublic));
        var hostKey = TpmtPublic.Parse(Convert.FromBase64String(evidence.HostKeyPublic));
        byte[] quote = Convert.FromBase64String(evidence.Quote), quoteSignature = Convert.FromBase64String(evidence.QuoteSignature);
        byte[] certify = Convert.FromBase64String(evidence.Certify!), certifySignature = Convert.FromBase64String(evidence.CertifySignature!);
        var log = EventLogParser.Parse(eventLog);
        var required = AttestedPcrs.ForEveryBank(log);
        var replayed = required.ToDictionary(s => s.Hash, s => (IReadOnlyDictionary<int, byte[]>)AttestedPcrs.Replayed(log, s));
        var snapshot = new PolicySnapshot(1, PolicyCatalog.All.ToDictionary(p => p.Name, p => p.DefaultState, StringComparer.Ordinal), baselines);
        var policyEvidence = PolicyEvidence.Of(log, baselines);

        void Verify()
        {
            var quoted = QuoteVerifier.Verify(new QuoteVerificationInput(
                quote, quoteSignature, ak, nonce, replayed, required, DeclaredBanks: log.Banks, ProbedBanks: AttestedPcrs.ProbedBanks));
            var certified = CertifyVerifier.Verify(new CertifyVerificationInput(certify, certifySignature, ak, nonce, hostKey));
            if (!quoted.Succeeded || !certified.Succeeded)
            {
                throw new InvalidOperationException($"the bench's TPM evidence does not verify: quote {quoted.Failure}, certify {certified.Failure}");
            }
        }

        Verify();
        var failed = snapshot.Evaluate(policyEvidence).Where(o => !o.Result.Passed && o.State == PolicyState.Enabled).ToList();
        if (failed.Count > 0)
        {
            throw new InvalidOperationException("the bench's host fails policies: " + string.Join("; ", failed.Select(f => $"{f.Name}: {f.Result.Message}")));
        }

        return new TpmStages(
            ReleaseStageBench.Time(perStage, () => LoadBaseline()),
            baselines.Length,
            ReleaseStageBench.Time(perStage, () =>
            {
                var parsed = EventLogParser.Parse(Convert.FromBase64String(evidence.EventLog));
                foreach (var selection in AttestedPcrs.ForEveryBank(parsed))
                {
                    AttestedPcrs.Replayed(parsed, selection);
                }
            }),
            ReleaseStageBench.Time(perStage, Verify),
            ReleaseStageBench.Time(perStage, () => snapshot.Evaluate(policyEvidence)));
    }
}
