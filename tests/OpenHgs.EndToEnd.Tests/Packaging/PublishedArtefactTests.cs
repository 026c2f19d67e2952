using System.Security.Cryptography;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;
using Xunit.Abstractions;

namespace OpenHgs.EndToEnd.Tests.Packaging;

/// <summary>
/// The release tarballs of <c>./hgs publish</c>, installed into empty folders and run with no .NET on the machine as
/// far as they can tell (empty environment, PATH without <c>dotnet</c>): the server tarball initialises and runs a
/// service, the host tarball attests and unlocks against it.
/// </summary>
public sealed class PublishedArtefactTests(PublishedArtefacts artefacts, ITestOutputHelper output) : IClassFixture<PublishedArtefacts>
{
    [Fact]
    public void EachTarballCarriesVersionAndAManifestOfEveryFile()
    {
        output.WriteLine($"publish took {artefacts.PublishDuration}");
        foreach (string folder in new[] { artefacts.Server, artefacts.Host })
        {
            string version = File.ReadAllText(Path.Combine(folder, "VERSION"));
            Assert.Contains("rid=linux-x64", version, StringComparison.Ordinal);
            Assert.Contains("self_contained=true", version, StringComparison.Ordinal);
            Assert.Matches(@"(?m)^dotnet_runtime=10\.0\.\d+$", version);

            var listed = File.ReadAllLines(Path.Combine(folder, "SHA256SUMS"))
                .Select(line => (Hash: line[..64], File: line[66..]))
                .ToDictionary(e => e.File, e => e.Hash, StringComparer.Ordinal);
            var present = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(folder, f))
                .Where(f => f != "SHA256SUMS")
                .ToHashSet(StringComparer.Ordinal);
            Assert.Equal(present.Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
            foreach (var (file, hash) in listed)
            {
                Assert.Equal(hash, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, file)))));
            }

            var tarball = Path.Combine(artefacts.Dist, Path.GetFileName(folder) + ".tar.gz");
            Assert.StartsWith(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tarball))) + "  ",
                File.ReadAllText(tarball + ".sha256"), StringComparison.Ordinal);
        }

        Assert.True(File.Exists(Path.Combine(artefacts.Server, "systemd", "openhgs.service")));
    }

    [Fact]
    public async Task HostTarballIsTheClientOnlyAndSmallerThanTheServerOne()
    {
        // No service, storage, HSM backends or ASP.NET Core on a guarded host.
        Assert.False(File.Exists(Path.Combine(artefacts.Host, "OpenHgs.Server.dll")));
        Assert.False(File.Exists(Path.Combine(artefacts.Host, "OpenHgs.Storage.dll")));
        Assert.False(File.Exists(Path.Combine(artefacts.Host, "Pkcs11Interop.dll")));
        Assert.Empty(Directory.EnumerateFiles(artefacts.Host, "Microsoft.AspNetCore.*"));
        Assert.True(File.Exists(Path.Combine(artefacts.Server, "OpenHgs.Server.dll")));
        long Size(string name) => new FileInfo(Path.Combine(artefacts.Dist, name)).Length;
        Assert.True(Size("openhgs-host-linux-x64.tar.gz") < Size("openhgs-server-linux-x64.tar.gz"));

        string error = (await PublishedArtefacts.RunBareAsync(artefacts.Host, "server", "init", "--data", "x", "--software")).FailedWithOneErrorLine(2);
        Assert.Contains("server", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(artefacts.Host, "x")));
        (await PublishedArtefacts.RunBareAsync(artefacts.Host, "client", "--help")).Succeeded();
    }

    [Fact]
    public async Task InstalledServerRunsAndTheHostTarballAttestsAndUnlocksWithoutTheSdk()
    {
        using var temp = new TempFolder("openhgs-installed-");
        string P(string name) => temp[name];

        foreach (string folder in new[] { artefacts.Server, artefacts.Host })
        {
            var version = (await PublishedArtefacts.RunBareAsync(folder, "--version")).Succeeded();
            Assert.Matches(@"^\d+\.\d+\.\d+", version.StdOut.Trim());
        }

        (await PublishedArtefacts.RunBareAsync(artefacts.Server, "server", "init", "--data", P("data"), "--software")).Succeeded();
        await using var server = await ServerProcess.StartAsync(P("data"), new ServerProcessOptions
        {
            Command = arguments => PublishedArtefacts.Bare(artefacts.Server, arguments),
            WorkingDirectory = artefacts.Server,
            ReadinessPath = "healthz/ready",
        });
        string url = server.Url;
        var admin = new Dictionary<string, string>
        {
            ["HGS_URL"] = url,
            ["HGS_ADMIN_TOKEN"] = File.ReadAllText(Path.Combine(P("data"), "admin.token")).Trim(),
        };
        Task<CliResult> Fabric(params string[] args) => PublishedArtefacts.RunBareAsync(artefacts.Server, admin, args);
        Task<CliResult> GuardedHost(params string[] args) => PublishedArtefacts.RunBareAsync(artefacts.Host, args);

        string publicKey = (await GuardedHost("client", "keygen", "--out", P("host-keys"))).Succeeded().StdOut.Trim();
        (await Fabric("hosts", "add-key", "--name", "packaged-host", "--public-key", publicKey)).Succeeded();
        (await Fabric("guardian", "export", "--out", P("fabric.json"))).Succeeded();
        (await Fabric("guardian", "new", "--name", "owner", "--out", P("owner.json"))).Succeeded();
        (await Fabric("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();

        (await GuardedHost("client", "configure", "--state", P("state"), "--attestation-url", url, "--key-protection-url", url, "--host-key", P("host-keys"))).Succeeded();
        var attest = (await GuardedHost("client", "attest", "--state", P("state"), "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attest["status"]);
        (await GuardedHost("client", "unlock", "--state", P("state"), "--kp", P("vm.kp"), "--out", P("unlocked.tk"))).Succeeded();
        Assert.Equal(File.ReadAllBytes(P("vm.tk")), File.ReadAllBytes(P("unlocked.tk")));
    }
}
