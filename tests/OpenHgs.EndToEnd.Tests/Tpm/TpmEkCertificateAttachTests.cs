using System.Security.Cryptography.X509Certificates;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Tpm;

public sealed class TpmEkCertificateAttachTestsOnSqlite() : TpmEkCertificateAttachTests(DatabaseKind.Sqlite);

public sealed class TpmEkCertificateAttachTestsOnPostgres() : TpmEkCertificateAttachTests(DatabaseKind.Postgres);

/// <summary>
/// Design change 85 on a swtpm, the real service and <c>hgs</c>: a TPM registered without its EK certificate gets it with
/// <c>hgs hosts set-ek-certificate</c>, keeps attesting with the AK it activated, and a CRL revoking the certificate then
/// refuses its next attestation.
/// </summary>
public abstract class TpmEkCertificateAttachTests(DatabaseKind database)
{
    [Fact]
    [Trait("Attack", "A164")]
    public async Task A_tpm_registered_without_its_ek_certificate_gets_it_attached_and_a_crl_then_revokes_it()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host", register: false, activate: false);
        using var client = host.Client();
        var identity = client.TpmAgent!.Identify();
        await scenario.Admin.AddHostAsync("host", identity with { EkCertificate = null }, allowWithoutCertificate: true, CancellationToken.None);
        await client.ActivateTpmAsync(CancellationToken.None);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        var env = new Dictionary<string, string?> { ["HGS_URL"] = scenario.Service.Url, ["HGS_ADMIN_TOKEN"] = scenario.Service.AdminToken };
        Assert.Contains(" ek-certificate:none", (await HgsCli.RunAsync(["hosts", "list"], env)).Succeeded().StdOut, StringComparison.Ordinal);

        // Not a certificate: one line, its code, nothing stored.
        string garbage = Path.Combine(scenario.Service.Root, "garbage.der");
        await File.WriteAllBytesAsync(garbage, [0x30, 0x03, 0x02, 0x01, 0x01]);
        Assert.Contains("EkCertificateMalformedCertificate", (await HgsCli.RunAsync(["hosts", "set-ek-certificate", "host", "--ek-cert", garbage], env)).FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.Contains(" ek-certificate:none", (await HgsCli.RunAsync(["hosts", "list"], env)).Succeeded().StdOut, StringComparison.Ordinal);

        // The TPM's own certificate, as PEM: stored, and the host attests on with the AK it has (no re-activation).
        using var ek = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(identity.EkCertificate!));
        string file = Path.Combine(scenario.Service.Root, "ek.pem");
        await File.WriteAllTextAsync(file, ek.ExportCertificatePem());
        var attached = (await HgsCli.RunAsync(["hosts", "set-ek-certificate", "host", "--ek-cert", file, "--json"], env)).Succeeded().Json();
        Assert.Equal("stored", (string?)attached["ekCertificate"]);
        Assert.Contains(" ek-certificate:stored", (await HgsCli.RunAsync(["hosts", "list"], env)).Succeeded().StdOut, StringComparison.Ordinal);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        Assert.Matches(@"^\d+ rows checked; 0 fail their integrity check\.\n$", (await HgsCli.RunAsync(["audit", "rows"], env)).Succeeded().StdOut);

        // Again: refused, a certificate is stored.
        Assert.Contains("EkCertificateAlreadyStored", (await HgsCli.RunAsync(["hosts", "set-ek-certificate", "host", "--ek-cert", file], env)).FailedWithOneErrorLine(1), StringComparison.Ordinal);

        // The manufacturer's CRL revoking it: the next attestation is refused by name (design change 75).
        using var issuer = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(scenario.Tpm.IssuerCertificatePath));
        using var key = TestCrl.LoadKey(Path.Combine(scenario.Tpm.Directory, "ca", "signkey.pem"));
        string revoking = Path.Combine(scenario.Service.Root, "revoking.crl");
        var now = DateTimeOffset.UtcNow;
        await File.WriteAllBytesAsync(revoking, TestCrl.Build(issuer, key, 1, [ek.SerialNumberBytes.ToArray()], now.AddMinutes(-5), now.AddDays(7)));
        Assert.Contains("Revokes registered host host", (await HgsCli.RunAsync(["tpm-roots", "add-crl", revoking], env)).Succeeded().StdOut, StringComparison.Ordinal);
        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "EkCertificateRevoked", "UnauthorizedHost");
        Assert.Contains($"the EK certificate (serial {ek.SerialNumber})", refused.Reasons[0].Message, StringComparison.Ordinal);
    }
}
