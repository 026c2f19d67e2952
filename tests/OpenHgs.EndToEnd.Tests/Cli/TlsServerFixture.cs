using System.Security.Cryptography.X509Certificates;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// A <c>hgs server run</c> child process serving https on 127.0.0.1 with a certificate from a test fabric CA, and
/// admin mutual TLS against a separate admin CA (stored by <c>server init --tls-cert --tls-key --admin-client-ca</c>,
/// so the default <c>--admin-auth both</c> applies: client certificate and bearer credential). Certificates of an
/// unrelated CA are at hand to be refused. <see cref="Environment"/> is what an admin exports.
/// </summary>
public class TlsServerFixture : IAsyncLifetime
{
    private readonly TempFolder _root = new("openhgs-tls-");

    public TestCertificateAuthority FabricCa { get; } = new("OpenHGS test fabric CA");

    public TestCertificateAuthority AdminCa { get; } = new("OpenHGS test admin CA");

    public TestCertificateAuthority OtherCa { get; } = new("Unrelated CA");

    public string DataDirectory => _root["service"];

    public ServerProcess Server { get; private set; } = null!;

    public string AdminToken { get; private set; } = null!;

    public string Url => Server.Url;

    public string FabricCaFile => _root["fabric-ca.pem"];

    public string OtherCaFile => _root["other-ca.pem"];

    public string AdminCaFile => _root["admin-ca.pem"];

    public string ServerCertificateFile => _root["server.pem"];

    public string ServerKeyFile => _root["server.key"];

    public string AdminCertificateFile => _root["admin.pem"];

    public string AdminKeyFile => _root["admin.key"];

    public string RogueCertificateFile => _root["rogue.pem"];

    public string RogueKeyFile => _root["rogue.key"];

    /// <summary>The admin's environment: URL, credential, the fabric CA and the admin client certificate.</summary>
    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>
    {
        ["HGS_URL"] = Url,
        ["HGS_ADMIN_TOKEN"] = AdminToken,
        ["HGS_CACERT"] = FabricCaFile,
        ["HGS_CLIENT_CERT"] = AdminCertificateFile,
        ["HGS_CLIENT_KEY"] = AdminKeyFile,
    };

    /// <summary><see cref="Environment"/> with some variables changed (a null value removes one).</summary>
    public IReadOnlyDictionary<string, string?> EnvironmentWith(params (string Name, string? Value)[] changes)
    {
        var environment = new Dictionary<string, string?>(Environment);
        foreach (var (name, value) in changes)
        {
            environment[name] = value;
        }

        return environment;
    }

    public Task<CliResult> RunAsync(params string[] args) => HgsCli.RunAsync(args, Environment);

    public string NewFolder(string name)
    {
        string path = Path.Combine(_root.Path, $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A fresh server certificate from the fabric CA for 127.0.0.1 (what a rotation installs).</summary>
    public X509Certificate2 IssueServerCertificate(string subject) => FabricCa.IssueServer(subject, "127.0.0.1", "localhost");

    public async Task InitializeAsync()
    {
        FabricCa.WriteCertificate(FabricCaFile);
        OtherCa.WriteCertificate(OtherCaFile);
        AdminCa.WriteCertificate(AdminCaFile);
        using (var server = IssueServerCertificate("openhgs-test-server"))
        {
            TestCertificateAuthority.WritePem(server, ServerCertificateFile, ServerKeyFile);
        }

        using (var admin = AdminCa.IssueClient("fabric-admin"))
        {
            TestCertificateAuthority.WritePem(admin, AdminCertificateFile, AdminKeyFile);
        }

        using (var rogue = OtherCa.IssueClient("fabric-admin"))
        {
            TestCertificateAuthority.WritePem(rogue, RogueCertificateFile, RogueKeyFile);
        }

        (await HgsCli.RunAsync(["server", "init", "--data", DataDirectory, "--software", "--name", "TLS test fabric",
            "--tls-cert", ServerCertificateFile, "--tls-key", ServerKeyFile, "--admin-client-ca", AdminCaFile, .. DatabaseArguments()], environment: null)).Succeeded();
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "admin.token"))).Trim();
        // Only the reload interval is given to run: the certificate and admin CA come from hgs.json.
        Server = await ServerProcess.StartAsync(DataDirectory, ServerTls.Options(["--tls-reload-interval", "1"], FabricCaFile));
    }

    /// <summary>Extra <c>server init</c> arguments choosing the database (none: the embedded SQLite default).</summary>
    protected virtual string[] DatabaseArguments() => [];

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        FabricCa.Dispose();
        AdminCa.Dispose();
        OtherCa.Dispose();
        _root.Dispose();
    }
}

/// <summary>The same https service, initialised with <c>--database</c> on a real PostgreSQL server.</summary>
public sealed class PostgresTlsServerFixture : TlsServerFixture
{
    protected override string[] DatabaseArguments() => ["--database", PostgresServer.Instance.CreateDatabase("tls")];
}
