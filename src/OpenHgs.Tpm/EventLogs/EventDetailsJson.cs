using System.Text.Json;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>JSON rendering of <see cref="EventDetails"/>: an object with a "kind" discriminator.</summary>
internal static class EventDetailsJson
{
    public static void Write(Utf8JsonWriter w, EventDetails details)
    {
        w.WriteStartObject();
        switch (details)
        {
            case TextEventDetails t:
                w.WriteString("kind", "text");
                w.WriteString("text", t.Text);
                w.WriteString("encoding", t.Encoding);
                break;
            case SeparatorEventDetails s:
                w.WriteString("kind", "separator");
                w.WriteNumber("value", s.Value);
                w.WriteBoolean("error", s.IsError);
                break;
            case UefiVariableDetails v:
                w.WriteString("kind", "uefiVariable");
                w.WriteString("vendorGuid", v.VendorGuid.ToString());
                w.WriteString("name", v.Name);
                w.WriteString("data", Convert.ToHexStringLower(v.VariableData));
                break;
            case ImageLoadEventDetails i:
                w.WriteString("kind", "imageLoad");
                w.WriteNumber("imageLocation", i.ImageLocation);
                w.WriteNumber("imageLength", i.ImageLength);
                w.WriteNumber("linkTimeAddress", i.LinkTimeAddress);
                w.WriteString("devicePath", i.DevicePath);
                break;
            case FirmwareBlobEventDetails b:
                w.WriteString("kind", "firmwareBlob");
                w.WriteNumber("base", b.Base);
                w.WriteNumber("length", b.Length);
                break;
            case FirmwareBlob2EventDetails b:
                w.WriteString("kind", "firmwareBlob2");
                w.WriteString("description", b.Description);
                w.WriteNumber("base", b.Base);
                w.WriteNumber("length", b.Length);
                break;
            case HandoffTablesEventDetails h:
                w.WriteString("kind", "handoffTables");
                w.WriteStartArray("tables");
                foreach (var g in h.Tables)
                {
                    w.WriteStringValue(g.ToString());
                }
                w.WriteEndArray();
                break;
            case GptEventDetails g:
                w.WriteString("kind", "gpt");
                w.WriteString("diskGuid", g.DiskGuid.ToString());
                w.WriteStartArray("partitions");
                foreach (var p in g.Partitions)
                {
                    w.WriteStartObject();
                    w.WriteString("typeGuid", p.TypeGuid.ToString());
                    w.WriteString("uniqueGuid", p.UniqueGuid.ToString());
                    w.WriteNumber("firstLba", p.FirstLba);
                    w.WriteNumber("lastLba", p.LastLba);
                    w.WriteString("name", p.Name);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                break;
            case StartupLocalityEventDetails l:
                w.WriteString("kind", "startupLocality");
                w.WriteNumber("locality", l.Locality);
                break;
            case NoActionEventDetails n:
                w.WriteString("kind", "noAction");
                w.WriteString("signature", n.Signature);
                break;
            case SpecIdEventDetails spec:
                w.WriteString("kind", "specId");
                w.WriteNumber("platformClass", spec.PlatformClass);
                w.WriteString("specVersion", spec.SpecVersion);
                w.WriteNumber("uintnSize", spec.UintnSize);
                w.WriteStartArray("algorithms");
                foreach (var a in spec.Algorithms)
                {
                    w.WriteStartObject();
                    w.WriteString("algorithm", a.Algorithm.Name());
                    w.WriteNumber("digestSize", a.DigestSize);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                break;
            default:
                w.WriteString("kind", details.GetType().Name);
                break;
        }
        w.WriteEndObject();
    }
}
