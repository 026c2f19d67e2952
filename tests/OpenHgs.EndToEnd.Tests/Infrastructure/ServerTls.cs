using OpenHgs.Client;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>A <see cref="ServerProcess"/> that serves https: its <c>server run</c> arguments, and a readiness probe that trusts the CA its certificate chains to.</summary>
public static class ServerTls
{
    public static ServerProcessOptions Options(IReadOnlyList<string> arguments, string caCertificateFile) => new()
    {
        Arguments = arguments,
        HttpsProbeHandler = () => new ClientTlsOptions(caCertificateFile).CreateHandler(),
    };
}
