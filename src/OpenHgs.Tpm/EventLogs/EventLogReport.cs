using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Renders a parsed event log for humans (<see cref="ToText"/>) and machines (<see cref="ToJson"/>), as used
/// by <c>hgs eventlog show FILE [--json]</c>.
/// </summary>
public static class EventLogReport
{
    /// <summary>
    /// JSON report: <c>{"format":"crypto-agile"|"sha1-legacy", "banks":[…], "pcrs":{"sha256":{"0":"hex",…},…},
    /// "secureBoot":{…}, "events":[{"index","pcr","type","digests":{"sha256":"hex"},"data","details"}]}</c>.
    /// <c>pcrs</c> has one entry per replayable bank present in the log and one key per PCR the log extends;
    /// hex is lower case. <c>data</c> (raw event data, hex) is present only when <c>details</c> is null.
    /// </summary>
    public static string ToJson(EventLog log, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(log);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName(log.Format));
            w.WriteStartArray("banks");
            foreach (var bank in log.Banks)
            {
                w.WriteStringValue(bank.Name());
            }
            w.WriteEndArray();

            w.WriteStartObject("pcrs");
            foreach (var (bank, pcrs) in log.Replay())
            {
                w.WriteStartObject(bank.Name());
                foreach (var (pcr, value) in pcrs)
                {
                    w.WriteString(pcr.ToString(CultureInfo.InvariantCulture), Convert.ToHexStringLower(value));
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();

            WriteSecureBoot(w, log.GetSecureBootState());

            w.WriteStartArray("events");
            foreach (var e in log.Events)
            {
                WriteEvent(w, e);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Plain-text report: a summary, the replayed PCRs per bank, then one line per event.</summary>
    public static string ToText(EventLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture,
            $"TCG event log: {FormatName(log.Format)}, {log.Events.Count} events, banks {string.Join(", ", log.Banks.Select(b => b.Name()))}\n");
        var secureBoot = log.GetSecureBootState();
        s.Append(CultureInfo.InvariantCulture, $"Secure Boot: {secureBoot.Enabled switch { true => "enabled", false => "disabled", null => "not measured" }}\n\n");
        foreach (var (bank, pcrs) in log.Replay())
        {
            s.Append(CultureInfo.InvariantCulture, $"PCRs ({bank.Name()}):\n");
            foreach (var (pcr, value) in pcrs)
            {
                s.Append(CultureInfo.InvariantCulture, $"  {pcr,2}: {Convert.ToHexStringLower(value)}\n");
            }
        }
        s.Append("\nEvents:\n");
        foreach (var e in log.Events)
        {
            s.Append(CultureInfo.InvariantCulture, $"  #{e.Index,-4} PCR {e.Pcr,-2} {e.Type.SpecName()}");
            var summary = Summarize(e);
            if (summary.Length > 0)
            {
                s.Append(": ").Append(summary);
            }
            s.Append('\n');
            foreach (var (bank, digest) in e.Digests)
            {
                s.Append(CultureInfo.InvariantCulture, $"        {bank.Name()}: {Convert.ToHexStringLower(digest)}\n");
            }
        }
        return s.ToString();
    }

    /// <summary>"crypto-agile" or "sha1-legacy".</summary>
    public static string FormatName(EventLogFormat format) =>
        format == EventLogFormat.CryptoAgile ? "crypto-agile" : "sha1-legacy";

    private static string Summarize(TcgEvent e)
    {
        const int max = 200;
        var text = e.Details switch
        {
            TextEventDetails t => t.Text,
            SeparatorEventDetails sep => sep.IsError ? $"error (0x{sep.Value:x8})" : "ok",
            UefiVariableDetails v => $"{v.Name} ({v.VendorGuid}), {v.VariableData.Length} bytes",
            ImageLoadEventDetails i => i.DevicePath,
            FirmwareBlobEventDetails b => $"base 0x{b.Base:x}, length 0x{b.Length:x}",
            FirmwareBlob2EventDetails b => $"{b.Description}: base 0x{b.Base:x}, length 0x{b.Length:x}",
            HandoffTablesEventDetails h => string.Join(", ", h.Tables),
            GptEventDetails g => $"disk {g.DiskGuid}, {g.Partitions.Count} partitions",
            StartupLocalityEventDetails l => $"StartupLocality {l.Locality}",
            NoActionEventDetails n => n.Signature,
            SpecIdEventDetails spec => $"Spec ID Event03 v{spec.SpecVersion}",
            _ => e.Data.Length == 0 ? string.Empty : $"{e.Data.Length} bytes",
        };
        text = text.Replace('\n', ' ').Replace('\r', ' ');
        return text.Length > max ? text[..max] + "…" : text;
    }

    private static void WriteEvent(Utf8JsonWriter w, TcgEvent e)
    {
        w.WriteStartObject();
        w.WriteNumber("index", e.Index);
        w.WriteNumber("pcr", e.Pcr);
        w.WriteString("type", e.Type.SpecName());
        w.WriteStartObject("digests");
        foreach (var (bank, digest) in e.Digests)
        {
            w.WriteString(bank.Name(), Convert.ToHexStringLower(digest));
        }
        w.WriteEndObject();
        if (e.Details is null)
        {
            w.WriteString("data", Convert.ToHexStringLower(e.Data));
            w.WriteNull("details");
        }
        else
        {
            w.WritePropertyName("details");
            EventDetailsJson.Write(w, e.Details);
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// Writes <paramref name="state"/> as the <c>"secureBoot"</c> property of the current object: <c>enabled</c> (true, false or
    /// null), <c>debugModeMeasured</c>, and per measured variable its event index, <c>dataVerified</c> and digests.
    /// </summary>
    public static void WriteSecureBoot(Utf8JsonWriter w, SecureBootState state)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(state);
        w.WriteStartObject("secureBoot");
        if (state.Enabled is { } enabled)
        {
            w.WriteBoolean("enabled", enabled);
        }
        else
        {
            w.WriteNull("enabled");
        }
        w.WriteBoolean("debugModeMeasured", state.DebugModeMeasured);
        foreach (var (name, variable) in new[] { ("secureBoot", state.SecureBoot), ("pk", state.Pk), ("kek", state.Kek), ("db", state.Db), ("dbx", state.Dbx) })
        {
            if (variable is null)
            {
                continue;
            }
            w.WriteStartObject(name);
            w.WriteNumber("event", variable.EventIndex);
            w.WriteBoolean("dataVerified", variable.DataVerified);
            foreach (var (bank, digest) in variable.Digests)
            {
                w.WriteString(bank.Name(), Convert.ToHexStringLower(digest));
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
