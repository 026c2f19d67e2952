using System.Net;
using System.Net.Sockets;

namespace OpenHgs.Testing;

/// <summary>
/// Loopback TCP port pairs (P and P+1, as swtpm's data and control channels use) for processes the tests start.
/// </summary>
/// <remarks>
/// Pairs come from below the kernel's ephemeral range: a port the kernel handed to listener 0 is ephemeral, and the
/// next port may be the local end of any outgoing connection (the tests make thousands), which is how a swtpm start
/// failed with "Address already in use" under the parallel suite. Below that range only the tests bind ports, and
/// this process hands each pair out once.
/// </remarks>
public static class LoopbackPorts
{
    private static readonly int EphemeralLow = ReadEphemeralLow();
    private static readonly int First = Math.Max(1024, EphemeralLow - 12000);
    private static int _next = First + (Environment.ProcessId % 2000) * 2;

    /// <summary>A port P with P and P+1 both free on 127.0.0.1 now (neither handed out before by this process).</summary>
    public static int FreePair()
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int port = Interlocked.Add(ref _next, 2) - 2;
            if (port + 1 >= EphemeralLow)
            {
                Interlocked.CompareExchange(ref _next, First, port + 2);
                continue;
            }

            if (Bindable(port) && Bindable(port + 1))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no free loopback port pair below {EphemeralLow}");
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int ReadEphemeralLow()
    {
        try
        {
            string[] range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;   // Linux's default
        }
    }
}
