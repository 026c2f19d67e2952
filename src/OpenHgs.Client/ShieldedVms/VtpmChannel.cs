using System.Globalization;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>
/// How a running vTPM is reached: a unix control socket (<see cref="Socket"/>: what QEMU's <c>-tpmdev emulator</c> and
/// libvirt's emulator backend use; QEMU sends TPM commands over a channel it sets up through that socket), or TCP on
/// 127.0.0.1 (<see cref="TcpPort"/> for TPM commands and the next port for control: what tpm2-tools' swtpm TCTI uses,
/// with TPM2_Startup sent by swtpm). Exactly one is set.
/// </summary>
public sealed record VtpmChannel
{
    public VtpmChannel(string? socket, int? tcpPort)
    {
        if ((socket is null) == (tcpPort is null))
        {
            throw new ArgumentException("A vTPM channel is either a unix socket or a TCP port, not both and not neither.");
        }

        if (tcpPort is < 1 or > 65534)
        {
            throw new ArgumentOutOfRangeException(nameof(tcpPort), tcpPort, "A vTPM TCP port is 1-65534 (the control channel takes the next port).");
        }

        Socket = socket is null ? null : Path.GetFullPath(socket);
        TcpPort = tcpPort;
    }

    public string? Socket { get; }

    public int? TcpPort { get; }

    /// <summary>swtpm's options for this channel.</summary>
    public IReadOnlyList<string> SwtpmArguments() => Socket is { } socket
        ? ["--ctrl", $"type=unixio,path={socket},mode=0600", "--flags", "not-need-init"]
        :
        [
            "--server", string.Create(CultureInfo.InvariantCulture, $"type=tcp,port={TcpPort},bindaddr=127.0.0.1"),
            "--ctrl", string.Create(CultureInfo.InvariantCulture, $"type=tcp,port={TcpPort + 1},bindaddr=127.0.0.1"),
            "--flags", "not-need-init,startup-clear",
        ];

    /// <summary>swtpm_ioctl's options to reach this channel's control side.</summary>
    public IReadOnlyList<string> IoctlArguments() => Socket is { } socket
        ? ["--unix", socket]
        : ["--tcp", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{TcpPort + 1}")];

    public override string ToString() => Socket ?? string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{TcpPort}");
}
