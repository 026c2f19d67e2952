using System.Text;

namespace OpenHgs.Tpm.EventLogs;

/// <summary>
/// Renders a UEFI device path (EFI_DEVICE_PATH_PROTOCOL node list) as text, UEFI-shell style, for the node
/// types that matter in boot measurements; other nodes render generically. Bounded by a node limit.
/// </summary>
internal static class DevicePathRenderer
{
    public static string Render(ReadOnlySpan<byte> path, int maxNodes)
    {
        var cursor = new DataCursor(path);
        var text = new StringBuilder();
        for (var i = 0; i < maxNodes && cursor.Remaining >= 4; i++)
        {
            var type = cursor.U8();
            var subType = cursor.U8();
            var length = cursor.U16();
            if (length < 4)
            {
                throw new MalformedEventDataException();
            }
            var body = cursor.Take(length - 4);
            if (type == 0x7F)
            {
                if (subType == 0xFF)
                {
                    break;
                }
                text.Append(',');
                continue;
            }
            if (text.Length > 0 && text[^1] != ',')
            {
                text.Append('/');
            }
            text.Append(RenderNode(type, subType, body));
        }
        return text.ToString();
    }

    private static string RenderNode(byte type, byte subType, ReadOnlySpan<byte> body)
    {
        var c = new DataCursor(body);
        return (type, subType) switch
        {
            (0x01, 0x01) when body.Length >= 2 => $"Pci(0x{body[1]:x},0x{body[0]:x})",
            (0x02, 0x01) when body.Length >= 8 => $"PciRoot(0x{c.U32():x})",
            (0x03, 0x02) when body.Length >= 4 => $"Scsi(0x{c.U16():x},0x{c.U16():x})",
            (0x03, 0x05) when body.Length >= 2 => $"USB(0x{body[0]:x},0x{body[1]:x})",
            (0x03, 0x0B) => "MAC()",
            (0x03, 0x12) when body.Length >= 6 => $"Sata(0x{c.U16():x},0x{c.U16():x},0x{c.U16():x})",
            (0x03, 0x17) when body.Length >= 4 => $"NVMe(0x{c.U32():x})",
            (0x04, 0x01) when body.Length >= 38 => RenderHardDrive(body),
            (0x04, 0x02) => "CDROM()",
            (0x04, 0x04) => DataCursor.Utf16Text(body),
            (0x04, 0x06) when body.Length >= 16 => $"FvFile({new Guid(body[..16])})",
            (0x04, 0x07) when body.Length >= 16 => $"Fv({new Guid(body[..16])})",
            (0x04, 0x08) when body.Length >= 16 => $"Offset(0x{c.U64():x},0x{c.U64():x})",
            _ => $"Path({type},{subType},{Convert.ToHexStringLower(body[..Math.Min(body.Length, 64)])})",
        };
    }

    private static string RenderHardDrive(ReadOnlySpan<byte> body)
    {
        var c = new DataCursor(body);
        var partition = c.U32();
        c.U64();
        c.U64();
        var signature = c.Take(16);
        var format = c.U8();
        var type = c.U8();
        var sig = type == 2 ? new Guid(signature).ToString() : Convert.ToHexStringLower(signature[..4]);
        return $"HD({partition},{(format == 2 ? "GPT" : "MBR")},{sig})";
    }
}
