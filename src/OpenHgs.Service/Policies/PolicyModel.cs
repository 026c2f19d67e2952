using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Service.Policies;

/// <summary>
/// How a policy takes part in attestation: <c>Enabled</c> policies are evaluated and fail attestation;
/// <c>Staged</c> ones are evaluated and reported but never fail it (HGS "audit" rollout); <c>Disabled</c> ones are not evaluated.
/// </summary>
public enum PolicyState
{
    Enabled,
    Disabled,
    Staged,
}

/// <summary>The result of one policy: passed, or a message saying what did not hold (never key material).</summary>
public sealed record PolicyResult(bool Passed, string Message)
{
    public static PolicyResult Pass(string message = "ok") => new(true, message);

    public static PolicyResult Fail(string message) => new(false, message);
}

/// <summary>
/// What policies are evaluated over. Security contract: <see cref="Log"/> has already been shown to replay to the
/// PCR values the TPM quoted (signed by the activated AK over the service's nonce) for every PCR in <see cref="Pcrs"/>;
/// policies read only events of those PCRs, and must check <see cref="TcgEvent.DigestMatchesData"/> before
/// trusting event data whose digest is not a hash of some other measured object.
/// </summary>
/// <param name="Log">The host's parsed event log.</param>
/// <param name="Pcrs">The PCR values in <paramref name="Bank"/> the log replays to (and the quote covers).</param>
/// <param name="SecureBoot">Secure Boot state derived from the log.</param>
/// <param name="Baselines">Every registered baseline.</param>
/// <param name="Bank">
/// The bank policies read (<see cref="AttestedPcrs.PolicyBank"/>: SHA-256, else SHA-1); every other bank the log declares
/// was checked against the quote too.
/// </param>
public sealed record PolicyEvidence(
    EventLog Log,
    IReadOnlyDictionary<int, byte[]> Pcrs,
    SecureBootState SecureBoot,
    IReadOnlyList<Baseline> Baselines,
    TpmAlgorithm Bank)
{
    /// <summary>The evidence of a log that was shown to replay to the quote, in the bank policies read (<see cref="AttestedPcrs.PolicyBank(EventLog)"/>).</summary>
    public static PolicyEvidence Of(EventLog log, IReadOnlyList<Baseline> baselines)
    {
        ArgumentNullException.ThrowIfNull(log);
        return Of(log, baselines, AttestedPcrs.PolicyBank(log) ?? throw new ArgumentException("The log declares neither SHA-256 nor SHA-1.", nameof(log)));
    }

    /// <summary>The evidence of a log that was shown to replay to the quote, read in <paramref name="bank"/> (the policy bank among the banks the quote shows active).</summary>
    public static PolicyEvidence Of(EventLog log, IReadOnlyList<Baseline> baselines, TpmAlgorithm bank)
    {
        ArgumentNullException.ThrowIfNull(log);
        return new PolicyEvidence(log, AttestedPcrs.Replayed(log, AttestedPcrs.For(log, bank)), log.GetSecureBootState(), baselines, bank);
    }
}

/// <summary>One named attestation policy (HGS-style name, e.g. <c>Hgs_SecureBootEnabled</c>).</summary>
public interface IAttestationPolicy
{
    /// <summary>Stable name, reported on failure and used by <c>hgs policy enable|disable|stage NAME</c>.</summary>
    string Name { get; }

    /// <summary>What the policy requires, for <c>hgs policy list</c>.</summary>
    string Description { get; }

    /// <summary>The state a fresh service uses; policies a typical cloud VM cannot satisfy ship disabled.</summary>
    PolicyState DefaultState { get; }

    /// <summary>Evaluates the policy; must not throw for any well-formed evidence.</summary>
    PolicyResult Evaluate(PolicyEvidence evidence);
}

/// <summary>The outcome of evaluating one policy that was not disabled.</summary>
public sealed record PolicyOutcome(string Name, PolicyState State, PolicyResult Result);
