using OpenHgs.Tpm;
using OpenHgs.Tpm.EventLogs;

namespace OpenHgs.Fuzz.Targets;

/// <summary>A TCG event log as a host sends it with TPM evidence or a baseline: parse, replay, Secure Boot state, report.</summary>
public sealed class EventLogTarget : FuzzTarget<EventLogFormatException>
{
    public override string Name => "event-log";

    public override string Description => "EventLogParser.Parse + AttestedPcrs replay + SecureBootState + JSON report; refusal: EventLogFormatException";

    protected override void Run(ReadOnlySpan<byte> input)
    {
        var log = EventLogParser.Parse(input);

        // As every product caller does (TpmEvidenceChecks, Baseline, BaselineCapture): a declared bank that cannot be
        // hashed here (TPM_ALG_RSA, SM3, …) is refused before replay, because Replayed documents an ArgumentException
        // for it rather than answering zeros.
        foreach (var selection in AttestedPcrs.ForEveryBank(log).Where(s => s.Hash.CanHash()))
        {
            AttestedPcrs.Replayed(log, selection);
        }

        AttestedPcrs.PolicyBank(log);
        SecureBootState.FromLog(log);
        EventLogReport.ToJson(log, indented: false);
    }
}
