using System.Text.Json;
using OpenHgs.Storage;

namespace OpenHgs.Service.Audit;

/// <summary>Stable audit event names (the admin filters and alerts on these).</summary>
public static class AuditEvents
{
    public const string Attestation = "attestation.attest";
    public const string KeyRelease = "keyprotection.release";
    public const string TpmActivation = "attestation.tpm.activate";
    public const string ServiceInitialized = "admin.server.init";
    public const string KeyAdded = "admin.keys.add";
    public const string KeyPrimarySet = "admin.keys.set-primary";
    public const string KeyEnabled = "admin.keys.enable";
    public const string KeyDisabled = "admin.keys.disable";
    public const string KeyRemoved = "admin.keys.remove";
    public const string HostAdded = "admin.hosts.add";
    public const string HostRemoved = "admin.hosts.remove";
    public const string SettingChanged = "admin.settings.change";
    public const string AdminCredentialRotated = "admin.server.rotate-admin-token";
}

/// <summary>Audit outcomes.</summary>
public static class AuditOutcomes
{
    public const string Success = "success";
    public const string Refused = "refused";
}

/// <summary>Builds audit events; details are a flat, sorted JSON object so records hash and read the same everywhere.</summary>
public static class AuditRecord
{
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

    public static ServiceException AuditUnavailable(Exception inner) =>
        new(ProblemKind.Unavailable, "AuditUnavailable", "The audit trail cannot be written, so the service refuses to act (fail closed). " + (inner is DatabaseUnavailableException ? "The database is unavailable." : string.Empty));
}
