using OpenHgs.Storage;

namespace OpenHgs.Service.Integrity;

/// <summary>
/// What a row that fails its MAC means for a request, per table (docs/security.md): the row is never used, and the
/// request that needed it is refused with a code that names the kind of record.
/// </summary>
public static class RowIntegrityProblems
{
    public const string SettingsIntegrity = "SettingsIntegrity";
    public const string AdminCredentialIntegrity = "AdminCredentialIntegrity";
    public const string HostRecordIntegrity = "HostRecordIntegrity";
    public const string PolicyIntegrity = "PolicyIntegrity";
    public const string FabricKeyIntegrity = "FabricKeyIntegrity";
    public const string TpmRootIntegrity = "TpmRootIntegrity";

    /// <summary>The refusal for a request that needed <paramref name="failure"/>'s row.</summary>
    public static ServiceException ToRefusal(RowIntegrityException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return failure.Table switch
        {
            "settings" => ServiceException.Unavailable(SettingsIntegrity, failure.IsMissing
                ? $"The service setting '{failure.Key}' is missing (deleted outside OpenHGS; its absence is not read as a default); the service fails closed until an admin sets it again."
                : $"The service setting '{failure.Key}' {WhatHappened(failure)}; the service fails closed until an admin sets it again."),
            "hosts" or "tpm_attestation_keys" => ServiceException.Forbidden(HostRecordIntegrity,
                $"The registration of host '{failure.Key}' {WhatHappened(failure)}; it cannot attest until an admin removes it (and re-registers it, if it should attest)."),
            "policies" or "baselines" => ServiceException.Unavailable(PolicyIntegrity, failure.IsMissing
                ? $"The {failure.Table} row '{failure.Key}' is missing (deleted outside OpenHGS; its absence is not read as the policy's default); TPM attestation fails closed until an admin sets its state again."
                : $"The {failure.Table} row '{failure.Key}' {WhatHappened(failure)}; TPM attestation fails closed until an admin sets or removes it again."),
            "fabric_keys" => ServiceException.Conflict(FabricKeyIntegrity,
                $"Fabric key row '{failure.Key}' was changed outside OpenHGS (its MAC does not verify) and is ignored; remove it with 'hgs keys remove {failure.Key}'."),
            _ => ServiceException.Unavailable("RecordIntegrity", failure.Message),
        };
    }

    /// <summary>What was done to the row, for a message: changed, deleted, or an older copy put back (a replay).</summary>
    public static string WhatHappened(RowIntegrityException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return failure switch
        {
            { SupersededBy: { } sequence } => $"is an older copy put back outside OpenHGS (audit record {sequence} removed or replaced it)",
            { IsMissing: true } => "is missing (deleted outside OpenHGS)",
            _ => "was changed outside OpenHGS (its MAC does not verify)",
        };
    }
}
