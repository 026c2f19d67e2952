using System.Globalization;
using System.Text.RegularExpressions;

namespace OpenHgs.Storage;

/// <summary>
/// Seals the admin records of the audit trail with the row-MAC key (design change 67), so that whoever can write the
/// database but not use the key cannot append a record that a row's history (<see cref="AdminRecordHistory"/>) believes.
/// </summary>
/// <remarks>
/// <para>The audit chain is a hash chain without a key: a database writer could put back an older copy of a row and
/// append a well-formed record naming it, and design change 64's check would take the row for current. A sealed record
/// carries, at the end of its details, <c>"sealedFrom":"M","recordMac":"…"</c>: the MAC covers the record's sequence
/// number, time, event, outcome, subject, reason, details (without the seal), the previous record's hash and
/// <c>M</c>, the sequence of the trail's first sealed record (a marker, <see cref="MarkerEvent"/>). So a seal cannot be
/// made without the key, moved to another record, or copied to a new sequence number.</para>
/// <para>Every successful admin record from <c>M</c> on is sealed; one without a valid seal was written outside
/// OpenHGS and is not believed. Records before <c>M</c> (written by a release before sealing) are believed as before:
/// they cannot be added to, only rewritten, which the chain's checkpoints and <c>hgs audit verify</c> name.</para>
/// </remarks>
internal sealed partial class AdminRecordSeal(RowMac mac)
{
    /// <summary>The event of the marker that opens the sealed part of the trail (its own <c>sealedFrom</c> is its sequence).</summary>
    public const string MarkerEvent = "admin.audit.seal-records";

    /// <summary>The subject of the marker.</summary>
    public const string MarkerSubject = "audit";

    /// <summary>
    /// The seal's MAC field as it stands in a sealed record's details: what the guard of migration 8 and the oldest-seal
    /// look-up search the stored text for (only <see cref="Unseal"/> decides what is a seal).
    /// </summary>
    public const string MacField = "\"recordMac\":\"";

    private const string Table = "audit_log";

    /// <summary>Whether a record of this event and outcome is sealed: the successful admin records a row's history reads.</summary>
    public static bool Applies(string auditEvent, string outcome) =>
        auditEvent.StartsWith("admin.", StringComparison.Ordinal) && string.Equals(outcome, "success", StringComparison.Ordinal);

    /// <summary>The details of record <paramref name="sequence"/> with its seal appended.</summary>
    public string Seal(long sequence, long timestampMs, AuditEvent record, byte[] previousHash, long sealedFrom)
    {
        ArgumentNullException.ThrowIfNull(record);
        string details = record.Details;
        if (details.Length < 2 || details[0] != '{' || details[^1] != '}')
        {
            throw new ArgumentException($"The details of audit record '{record.Event}' are not a JSON object, so the record cannot be sealed.", nameof(record));
        }

        byte[] tag = mac.Seal(Table, Key(sequence), Columns(timestampMs, record, details, previousHash, sealedFrom));
        string separator = details.Length == 2 ? string.Empty : ",";
        return $"{details[..^1]}{separator}\"sealedFrom\":\"{sealedFrom.ToString(CultureInfo.InvariantCulture)}\",{MacField}{Convert.ToBase64String(tag)}\"}}";
    }

    /// <summary>The seal of stored details, or null when they carry none.</summary>
    public static (string Details, long SealedFrom, byte[] Mac)? Unseal(string details)
    {
        ArgumentNullException.ThrowIfNull(details);
        var match = SealSuffix().Match(details);
        if (!match.Success || !long.TryParse(match.Groups["from"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long sealedFrom))
        {
            return null;
        }

        // One stored form per seal: the MAC in canonical base64 (no stray low bits), so a record has exactly one way to verify.
        byte[] mac = Convert.FromBase64String(match.Groups["mac"].Value);
        if (!string.Equals(Convert.ToBase64String(mac), match.Groups["mac"].Value, StringComparison.Ordinal))
        {
            return null;
        }

        string before = details[..match.Index];
        return (match.Value[0] == ',' ? before + "}" : "{}", sealedFrom, mac);
    }

    /// <summary>The <c>sealedFrom</c> of a record whose seal verifies, or null (no seal, or a seal that is not this record's).</summary>
    public long? Verify(long sequence, long timestampMs, AuditEvent record, byte[] previousHash)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (Unseal(record.Details) is not var (details, sealedFrom, tag))
        {
            return null;
        }

        return mac.Verifies(tag, Table, Key(sequence), Columns(timestampMs, record, details, previousHash, sealedFrom)) ? sealedFrom : null;
    }

    private static object?[] Columns(long timestampMs, AuditEvent record, string details, byte[] previousHash, long sealedFrom) =>
        [timestampMs, record.Event, record.Outcome, record.Subject, record.Reason, details, previousHash, sealedFrom];

    private static string Key(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);

    // After a field (a comma not right after the opening brace) or alone in the object; \z: nothing after the brace.
    [GeneratedRegex("""(?:(?<!^\{),|(?<=^\{))"sealedFrom":"(?<from>0|[1-9][0-9]{0,17})","recordMac":"(?<mac>[A-Za-z0-9+/]{43}=)"\}\z""", RegexOptions.CultureInvariant)]
    private static partial Regex SealSuffix();
}
