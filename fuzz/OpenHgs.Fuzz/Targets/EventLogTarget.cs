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
        foreach (var selection in AttestedPcrs.ForEveryBank(log))
        {
            AttestedPcrs.Replayed(log, selection);
        }

        AttestedPcrs.PolicyBank(log);
        SecureBootState.FromLog(log);
        EventLogReport.ToJson(log, indented: false);
    }
}
