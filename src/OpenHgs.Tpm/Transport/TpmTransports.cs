using System.Globalization;

namespace OpenHgs.Tpm.Transport;

/// <summary>Opens a transport from the command-line form used by <c>hgs client … --tpm TPM</c>.</summary>
public static class TpmTransports
{
    /// <summary>
    /// Opens <paramref name="specification"/>: a device path (<c>/dev/tpmrm0</c>) or
    /// <c>swtpm:host=127.0.0.1,port=N</c> (the tpm2-tools TCTI syntax; host defaults to 127.0.0.1).
    /// </summary>
    public static ITpmTransport Open(string specification)
    {
        ArgumentNullException.ThrowIfNull(specification);
        if (!specification.StartsWith("swtpm:", StringComparison.Ordinal))
        {
            return new TpmDeviceTransport(specification);
        }
        var host = "127.0.0.1";
        int? port = null;
        foreach (var part in specification["swtpm:".Length..].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split('=', 2);
            switch (kv[0])
            {
                case "host" when kv.Length == 2:
                    host = kv[1];
                    break;
                case "port" when kv.Length == 2 && int.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536:
                    port = p;
                    break;
                default:
                    throw new TpmTransportException(TpmTransportError.InvalidSpecification, $"unrecognised '{part}' in '{specification}'");
            }
        }
        return new SwtpmTcpTransport(host, port ?? throw new TpmTransportException(TpmTransportError.InvalidSpecification, $"'{specification}' has no port"));
    }
}
