using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using OpenHgs.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Tpm;

/// <summary>
/// Design change 69 through the real <c>hgs</c> and service: the swtpm's local CA (its intermediate, the "manufacturer"
/// that signed the EK certificate) publishes a CRL revoking the EK certificate; the admin imports it with
/// <c>hgs tpm-roots add-crl</c>, the TPM's registration is refused as revoked by name, and removing the CRL lets it register.
/// </summary>
public sealed class TpmCrlCliTests
{
    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    [Trait("Attack", "A104")]
    [Trait("Attack", "A107")]
    public async Task A_tpm_whose_ek_certificate_its_manufacturer_revoked_is_refused_by_name_until_the_crl_is_removed(DatabaseKind database)
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        var service = scenario.Service;
        var env = new Dictionary<string, string?> { ["HGS_URL"] = service.Url, ["HGS_ADMIN_TOKEN"] = service.AdminToken };
        string dir = Path.Combine(service.Root, "cli-crl");
        Directory.CreateDirectory(dir);
        string identity = Path.Combine(dir, "id.json");
        Task<CliResult> Hgs(params string[] args) => HgsCli.RunAsync(args, env);
        (await Hgs("client", "identify", "--state", Path.Combine(dir, "state"), "--tpm", scenario.Tpm.Specification, "--out", identity)).Succeeded();
        using var ek = X509CertificateLoader.LoadCertificate(Convert.FromBase64String((string)JsonNode.Parse(await File.ReadAllTextAsync(identity))!["ekCertificate"]!));
        using var issuer = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(scenario.Tpm.IssuerCertificatePath));
        using var key = TestCrl.LoadKey(Path.Combine(scenario.Tpm.Directory, "ca", "signkey.pem"));
        var now = DateTimeOffset.UtcNow;
        string revoking = Path.Combine(dir, "revoking.crl");
        await File.WriteAllBytesAsync(revoking, TestCrl.Build(issuer, key, 2, [ek.SerialNumberBytes.ToArray()], now.AddMinutes(-5), now.AddDays(7)));
        string older = Path.Combine(dir, "older.crl");
        await File.WriteAllTextAsync(older, TestCrl.Pem(TestCrl.Build(issuer, key, 1, [], now.AddMinutes(-10), now.AddDays(7))));

        Assert.StartsWith($"Imported the CRL of {issuer.Subject} (number 02, 1 revoked, next update ", (await Hgs("tpm-roots", "add-crl", revoking)).Succeeded().StdOut, StringComparison.Ordinal);
        var listed = Assert.Single((await Hgs("tpm-roots", "list-crls", "--json")).Succeeded().Json().AsArray())!;
        Assert.Equal((issuer.Subject, "02", 1), ((string?)listed["issuerSubject"], (string?)listed["crlNumber"], (int)listed["revoked"]!));
        Assert.Contains($"{issuer.Subject} [CRL number 02, 1 revoked", (await Hgs("tpm-roots", "list")).Succeeded().StdOut, StringComparison.Ordinal);
        Assert.StartsWith("error: TpmCrlExists: ", (await Hgs("tpm-roots", "add-crl", revoking)).FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);
        Assert.StartsWith("error: TpmCrlRollback: ", (await Hgs("tpm-roots", "add-crl", older)).FailedWithOneErrorLine(ExitCodes.Refused), StringComparison.Ordinal);

        string refused = (await Hgs("hosts", "add-tpm", "--name", "revoked", "--identity", identity)).FailedWithOneErrorLine(ExitCodes.Refused);
        Assert.StartsWith("error: EkCertificateRevoked: ", refused, StringComparison.Ordinal);
        Assert.Contains($"the EK certificate (serial {ek.SerialNumber})", refused, StringComparison.Ordinal);
        Assert.Contains($"by the CRL of {issuer.Subject} (number 02)", refused, StringComparison.Ordinal);
        Assert.Empty((await Hgs("hosts", "list", "--json")).Succeeded().Json().AsArray());

        string thumbprint = (string)listed["issuerThumbprint"]!;
        Assert.Equal(thumbprint, (string?)(await Hgs("tpm-roots", "remove-crl", thumbprint[..16], "--json")).Succeeded().Json()["issuerThumbprint"]);
        Assert.Empty((await Hgs("tpm-roots", "list-crls", "--json")).Succeeded().Json().AsArray());
        Assert.Equal("revoked", (string?)(await Hgs("hosts", "add-tpm", "--name", "revoked", "--identity", identity, "--json")).Succeeded().Json()["name"]);
    }
}
