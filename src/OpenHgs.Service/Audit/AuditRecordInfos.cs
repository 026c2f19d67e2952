using OpenHgs.Protocol.Wire;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>An audit record as the admin API answers it (the audit routes and the host page's verdicts).</summary>
public static class AuditRecordInfos
{
    public static AuditRecordInfo From(AuditEntry e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new(e.Sequence, e.Timestamp, e.Event, e.Outcome, e.Subject, e.Reason, e.Details, Convert.ToHexStringLower(e.Hash));
    }
}
