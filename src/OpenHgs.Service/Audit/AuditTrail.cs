using System.Text.Json;
using OpenHgs.Crypto;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>Stable audit event names (the admin filters and alerts on these).</summary>
public static class AuditEvents
{
    public const string Attestation = AuditTable.AttestationEvent;
    public const string KeyRelease = "keyprotection.release";
    public const string TpmActivation = "attestation.tpm.activate";
    public const string ServiceInitialized = "admin.server.init";
    public const string KeyAdded = AdminRecordEvents.KeyAdded;
    public const string KeyPrimarySet = AdminRecordEvents.KeyPrimarySet;
    public const string KeyEnabled = AdminRecordEvents.KeyEnabled;
    public const string KeyDisabled = AdminRecordEvents.KeyDisabled;
    public const string KeyRemoved = AdminRecordEvents.KeyRemoved;
    public const string HostAdded = AdminRecordEvents.HostAdded;
    public const string HostRemoved = AdminRecordEvents.HostRemoved;
    public const string HostEkCertificateSet = AdminRecordEvents.HostEkCertificateSet;
    public const string SettingChanged = AdminRecordEvents.SettingChanged;

    /// <summary>The once-in-a-fabric's-life writing of the explicit settings' rows (<see cref="Admin.ExplicitSettings"/>).</summary>
    public const string SettingsMadeExplicit = "admin.settings.explicit";

    /// <summary>Policy state rows written with their defaults, with every policy name the service knew (<see cref="Policies.ExplicitPolicyStates"/>).</summary>
    public const string PolicyStatesMadeExplicit = "admin.policies.explicit";
    public const string AdminCredentialRotated = "admin.server.rotate-admin-token";

    /// <summary>A production start that uses a key despite a critical custody finding an admin accepted (design change 79); one per key and finding, at every start.</summary>
    public const string KeyCustodyAccepted = "admin.keys.custody-accepted";
}

/// <summary>Audit outcomes.</summary>
public static class AuditOutcomes
{
    public const string Success = "success";
    public const string Refused = "refused";

    /// <summary>The request failed because the database or key store was unavailable: nothing was decided, released or changed.</summary>
    public const string Error = "error";
}

/// <summary>Builds audit events; details are a flat, sorted JSON object so records hash and read the same everywhere.</summary>
public static class AuditRecord
{
    /// <summary>The subject of a record that counts many records of one event, outcome and code (<see cref="AuditWriter"/>'s lanes).</summary>
    public const string AggregateSubject = "aggregate";

    public static AuditEvent Create(string name, string outcome, string subject, string? reason, params (string Key, string? Value)[] details)
    {
        ArgumentNullException.ThrowIfNull(details);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in details.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        return new AuditEvent(name, outcome, subject, reason, System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>
    /// The problem code a request answers when <paramref name="failure"/> means a store was unavailable (503
    /// <c>DatabaseUnavailable</c>, <c>KeyStoreUnavailable</c> or <c>AuditUnavailable</c>); null for anything else. Such a
    /// request gets an audit record with outcome <see cref="AuditOutcomes.Error"/> (<see cref="AuditWriter.RecordError"/>).
    /// </summary>
    public static string? OutageCode(Exception failure) => failure switch
    {
        DatabaseUnavailableException => "DatabaseUnavailable",
        KeyStoreUnavailableException => "KeyStoreUnavailable",
        ServiceException { Kind: ProblemKind.Unavailable, Code: "AuditUnavailable" or "DatabaseUnavailable" or "KeyStoreUnavailable" } s => s.Code,
        _ => null,
    };

    public static ServiceException AuditUnavailable(Exception inner) =>
        new(ProblemKind.Unavailable, "AuditUnavailable", "The audit trail cannot be written, so the service refuses to act (fail closed). " + (inner is DatabaseUnavailableException ? "The database is unavailable." : string.Empty));
}
