using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Service.Attestation.Tpm;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Tpm;

public sealed class TpmEkRevocationTestsOnSqlite() : TpmEkRevocationTests(DatabaseKind.Sqlite);

public sealed class TpmEkRevocationTestsOnPostgres() : TpmEkRevocationTests(DatabaseKind.Postgres);

/// <summary>
/// Design change 75 on a swtpm, the real service and <c>hgs</c>: a TPM registered with its EK certificate attests; a CRL
/// of its manufacturer imported afterwards (on this node or another) decides its next attestation, by name.
/// </summary>
public abstract class TpmEkRevocationTests(DatabaseKind database)
{
    [Fact]
    [Trait("Attack", "A123")]
    public async Task A_tpm_whose_ek_certificate_is_revoked_after_it_registered_is_refused_at_its_next_attestation()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
        var env = new Dictionary<string, string?> { ["HGS_URL"] = scenario.Service.Url, ["HGS_ADMIN_TOKEN"] = scenario.Service.AdminToken };
        Assert.Contains(" ek-certificate:stored", (await HgsCli.RunAsync(["hosts", "list"], env)).Succeeded().StdOut, StringComparison.Ordinal);

        using var ek = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(client.TpmAgent!.Identify().EkCertificate!));
        using var issuer = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(scenario.Tpm.IssuerCertificatePath));
        using var key = TestCrl.LoadKey(Path.Combine(scenario.Tpm.Directory, "ca", "signkey.pem"));
        var now = DateTimeOffset.UtcNow;

        // Another node imports a CRL of the manufacturer that lists another TPM: this node's next attestation reads it, and passes.
        await ImportOnAnotherNodeAsync(scenario, TestCrl.Pem(TestCrl.Build(issuer, key, 1, [[0x0f, 0x0e]], now.AddMinutes(-10), now.AddDays(7))));
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        // The admin imports the CRL revoking it: the import names the host, and its next attestation is refused by name.
        string revoking = Path.Combine(scenario.Service.Root, "revoking.crl");
        await File.WriteAllBytesAsync(revoking, TestCrl.Build(issuer, key, 2, [ek.SerialNumberBytes.ToArray()], now.AddMinutes(-5), now.AddDays(7)));
        string imported = (await HgsCli.RunAsync(["tpm-roots", "add-crl", revoking], env)).Succeeded().StdOut;
        Assert.Contains($"Revokes registered host host: the EK certificate (serial {ek.SerialNumber})", imported, StringComparison.Ordinal);

        var refused = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "EkCertificateRevoked", "UnauthorizedHost");
        Assert.Contains($"the EK certificate (serial {ek.SerialNumber})", refused.Reasons[0].Message, StringComparison.Ordinal);
        Assert.Contains($"by the CRL of {issuer.Subject} (number 02)", refused.Reasons[0].Message, StringComparison.Ordinal);
        Assert.Equal(1, await scenario.Service.ExecuteSqlAsync(
            $"SELECT COUNT(*) FROM audit_log WHERE event = 'attestation.attest' AND reason = 'EkCertificateRevoked' AND subject = 'host' AND details LIKE '%serial {ek.SerialNumber}%'"));

        // A newer CRL without it, imported on another node, lets it attest again: the revocation followed the CRLs, not a flag.
        await ImportOnAnotherNodeAsync(scenario, TestCrl.Pem(TestCrl.Build(issuer, key, 3, [], now.AddMinutes(-1), now.AddDays(7))));
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);
    }

    [Fact]
    [Trait("Attack", "A124")]
    [Trait("Attack", "A125")]
    public async Task A_stale_crl_of_its_chain_or_its_stored_chain_cleared_with_sql_fails_the_hosts_attestation_closed()
    {
        await using var scenario = await TpmScenario.StartAsync(database: database);
        await scenario.AddBaselineAsync("Rhel8GCE");
        var host = await scenario.EnrolAsync("host");
        using var client = host.Client();
        using var issuer = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(scenario.Tpm.IssuerCertificatePath));
        using var key = TestCrl.LoadKey(Path.Combine(scenario.Tpm.Directory, "ca", "signkey.pem"));
        var now = DateTimeOffset.UtcNow;
        await ImportOnAnotherNodeAsync(scenario, TestCrl.Pem(TestCrl.Build(issuer, key, 1, [], now.AddMinutes(-10), now.AddHours(1))));
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        // The CRL goes stale (the vendor's next one, which may revoke this TPM, never imported): refused, fail closed.
        scenario.Service.Time.Offset += TimeSpan.FromHours(2);
        var stale = await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "EkCertificateCrlExpired", "UnauthorizedHost");
        Assert.Contains($"the CRL of {issuer.Subject} (number 01) was due to be replaced", stale.Reasons[0].Message, StringComparison.Ordinal);
        scenario.Service.Time.Offset -= TimeSpan.FromHours(2);
        Assert.True((await client.AttestAsync(CancellationToken.None)).Passed);

        // The stored chain cleared with SQL, to pass as a TPM registered without a certificate: the row fails its MAC.
        await scenario.Service.ExecuteSqlAsync("UPDATE hosts SET ek_chain = '', ek_certificate = NULL WHERE name = 'host'");
        await TpmRefusalTests.AssertRefusedAsync(scenario, client, client.BuildEvidence(await client.ChallengeAsync(CancellationToken.None)), "HostRecordIntegrity", "UnauthorizedHost");
    }

    private static Task ImportOnAnotherNodeAsync(TpmScenario scenario, string crl) =>
        scenario.Service.AsOtherNodeAsync(db => new TpmCrlService(db, TimeProvider.System, NullLogger<TpmCrlService>.Instance).AddAsync(crl, CancellationToken.None));
}
