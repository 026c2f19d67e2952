using System.Text;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// One Secure Boot variable measurement (PCR 7, EV_EFI_VARIABLE_DRIVER_CONFIG or EV_EFI_VARIABLE_AUTHORITY).
/// </summary>
/// <param name="EventIndex">Index of the event in the log.</param>
/// <param name="Name">Variable name (SecureBoot, PK, KEK, db, dbx, …).</param>
/// <param name="VendorGuid">Variable vendor GUID.</param>
/// <param name="Value">Variable content as logged.</param>
/// <param name="Digests">The event's digests per bank (what a policy pins).</param>
/// <param name="DataVerified">
/// True when, in every bank this process can hash, the event digest equals H(event data) — i.e. the logged
/// variable content is what was measured. Policies must not trust <paramref name="Value"/> otherwise.
/// </param>
public sealed record SecureBootVariable(
    int EventIndex,
    string Name,
    Guid VendorGuid,
    byte[] Value,
    IReadOnlyDictionary<TpmAlgorithm, byte[]> Digests,
    bool DataVerified);

/// <summary>
/// The Secure Boot configuration measured into PCR 7, for the policy engine. Derived only from the log; a
/// policy must also check that the log replays to the quoted PCR 7.
/// </summary>
/// <param name="Enabled">
/// SecureBoot variable value: true when 1, false when 0 or empty, null when no SecureBoot measurement exists.
/// Only trust it when <see cref="SecureBoot"/>.<see cref="SecureBootVariable.DataVerified"/> is true.
/// </param>
/// <param name="SecureBoot">The SecureBoot variable measurement.</param>
/// <param name="Pk">Platform key measurement.</param>
/// <param name="Kek">Key exchange key database measurement.</param>
/// <param name="Db">Allowed signature database measurement.</param>
/// <param name="Dbx">Forbidden signature database measurement.</param>
/// <param name="Authorities">EV_EFI_VARIABLE_AUTHORITY events: db entries that authorised loaded images.</param>
/// <param name="DebugModeEvent">
/// Index of the first PCR 7 event that records "UEFI Debug Mode", or null. Found by digest (H("UEFI Debug Mode") in
/// any bank) or by data, never by event type: the type is covered by no digest, so a host can relabel the event.
/// </param>
public sealed record SecureBootState(
    bool? Enabled,
    SecureBootVariable? SecureBoot,
    SecureBootVariable? Pk,
    SecureBootVariable? Kek,
    SecureBootVariable? Db,
    SecureBootVariable? Dbx,
    IReadOnlyList<SecureBootVariable> Authorities,
    int? DebugModeEvent)
{
    private const int SecureBootPcr = 7;

    private const string DebugModeText = "UEFI Debug Mode";

    // The EV_EFI_ACTION string as firmware measures it (ASCII, no NUL), and the encodings a variant firmware might hash.
    private static readonly byte[][] DebugModeEncodings =
    [
        Encoding.ASCII.GetBytes(DebugModeText),
        Encoding.ASCII.GetBytes(DebugModeText + "\0"),
        Encoding.Unicode.GetBytes(DebugModeText),
        Encoding.Unicode.GetBytes(DebugModeText + "\0"),
    ];

    /// <summary>True when PCR 7 records "UEFI Debug Mode" (HGS Hgs_UefiDebugDisabled fails).</summary>
    public bool DebugModeMeasured => DebugModeEvent is not null;

    /// <summary>Extracts the state from a parsed log (first measurement of each variable wins).</summary>
    public static SecureBootState FromLog(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        SecureBootVariable? secureBoot = null, pk = null, kek = null, db = null, dbx = null;
        var authorities = new List<SecureBootVariable>();
        int? debug = null;
        foreach (var e in log.Events)
        {
            if (e.Pcr != SecureBootPcr)
            {
                continue;
            }
            if (debug is null && RecordsDebugMode(e))
            {
                debug = e.Index;
            }
            if (e.Details is not UefiVariableDetails v)
            {
                continue;
            }
            var variable = new SecureBootVariable(e.Index, v.Name, v.VendorGuid, v.VariableData, e.Digests,
                Verified(log, e));
            if (e.Type == TcgEventType.EfiVariableAuthority)
            {
                authorities.Add(variable);
                continue;
            }
            if (e.Type != TcgEventType.EfiVariableDriverConfig)
            {
                continue;
            }
            var global = v.VendorGuid == UefiVariableDetails.EfiGlobalVariable;
            var imageDb = v.VendorGuid == UefiVariableDetails.ImageSecurityDatabase;
            switch (v.Name)
            {
                case "SecureBoot" when global: secureBoot ??= variable; break;
                case "PK" when global: pk ??= variable; break;
                case "KEK" when global: kek ??= variable; break;
                case "db" when imageDb: db ??= variable; break;
                case "dbx" when imageDb: dbx ??= variable; break;
            }
        }

        bool? enabled = secureBoot is null ? null : secureBoot.Value.Length > 0 && secureBoot.Value[0] == 1;
        return new SecureBootState(enabled, secureBoot, pk, kek, db, dbx, authorities, debug);
    }

    // Whatever the event's type: its data reads "UEFI Debug Mode", or a digest is the hash of that string.
    private static bool RecordsDebugMode(TcgEvent e)
    {
        if (EventDetailsDecoder.DecodeText(e.Data) is { Text: DebugModeText })
        {
            return true;
        }
        foreach (var (bank, digest) in e.Digests)
        {
            if (bank.CanHash() && DebugModeEncodings.Any(text => bank.Hash(text).AsSpan().SequenceEqual(digest)))
            {
                return true;
            }
        }
        return false;
    }

    private static bool Verified(EventLog log, TcgEvent e)
    {
        var checkedAny = false;
        foreach (var bank in log.Banks)
        {
            if (!bank.CanHash())
            {
                continue;
            }
            if (!e.DigestMatchesData(bank))
            {
                return false;
            }
            checkedAny = true;
        }
        return checkedAny;
    }
}
