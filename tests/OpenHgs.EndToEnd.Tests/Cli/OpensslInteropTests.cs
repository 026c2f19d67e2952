using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Acceptance: health certificates and guardian certificates parse and verify with <c>openssl</c>, chaining to the
/// exported signer certificate — and do not verify against any other certificate.
/// </summary>
public sealed class OpensslInteropTestsOnSqlite() : OpensslInteropTests(DatabaseKind.Sqlite);

/// <summary>The same, with the service (its keys' certificates, hosts and nonces) on PostgreSQL.</summary>
public sealed class OpensslInteropTestsOnPostgres() : OpensslInteropTests(DatabaseKind.Postgres);

public abstract class OpensslInteropTests(DatabaseKind database) : IAsyncLifetime
{
    private const string VerdictOid = "2.25.193554364747792637888867372843937242958";

    private readonly TempFolder _files = new("openhgs-openssl-");
    private ServiceHarness _service = null!;

    public async Task InitializeAsync() => _service = await ServiceHarness.StartAsync(StoreKind.Software, database);

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        _files.Dispose();
    }

    [Fact]
    public async Task Health_certificate_verifies_with_openssl_against_the_exported_attestation_signer_only()
    {
        var host = await _service.AddHostAsync("openssl-host");
        using var client = host.Client();
        var attested = await client.AttestAsync(CancellationToken.None);
        Assert.True(attested.Passed, string.Join("; ", attested.Response.Reasons.Select(r => r.Code)));
        string health = Pem.WriteCertificate(_files["health.pem"], attested.HealthCertificate!);

        var keys = await _service.Admin.ListKeysAsync(CancellationToken.None);
        var signer = Assert.Single(keys, k => k.Role == "attestation-signer" && k.IsPrimary);
        string signerPem = Pem.WriteCertificate(_files["signer.pem"], Convert.FromBase64String(signer.Certificate));
        var kpsSigning = Assert.Single(keys, k => k.Role == "signing" && k.IsPrimary);
        string kpsSigningPem = Pem.WriteCertificate(_files["kps-signing.pem"], Convert.FromBase64String(kpsSigning.Certificate));

        var verified = await Tool.RunAsync("openssl", "verify", "-x509_strict", "-CAfile", signerPem, health);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Equal($"{health}: OK", verified.StdOut.Trim());

        var text = await Tool.RunAsync("openssl", "x509", "-in", health, "-noout", "-text");
        Assert.True(text.ExitCode == 0, text.ToString());
        var lines = text.StdOut.Split('\n').Select(l => l.Trim()).ToList();
        int keyUsage = lines.IndexOf("X509v3 Key Usage: critical");
        Assert.True(keyUsage >= 0, text.StdOut);
        Assert.Equal("Key Encipherment", lines[keyUsage + 1]);
        Assert.Contains($"{VerdictOid}:", lines);
        Assert.Contains(lines, l => l.StartsWith("Subject:", StringComparison.Ordinal) && l.Contains("CN = openssl-host", StringComparison.Ordinal));
        // The certified key is the host's RSA encryption key (what transport keys are wrapped to).
        Assert.Contains("Public-Key: (2048 bit)", lines);

        // Negative: the KPS signing certificate did not sign it.
        var wrongCa = await Tool.RunAsync("openssl", "verify", "-CAfile", kpsSigningPem, health);
        Assert.NotEqual(0, wrongCa.ExitCode);
        Assert.Contains("unable to get local issuer certificate", wrongCa.StdOut + wrongCa.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(": OK", wrongCa.StdOut, StringComparison.Ordinal);

        // Negative: an impostor with the signer's name and key identifier but another key; openssl checks the signature.
        string impostorPem = Pem.WriteCertificate(_files["impostor.pem"], Impostor(Convert.FromBase64String(signer.Certificate)));
        var impostor = await Tool.RunAsync("openssl", "verify", "-CAfile", impostorPem, health);
        Assert.NotEqual(0, impostor.ExitCode);
        Assert.Contains("certificate signature failure", impostor.StdOut + impostor.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fabric_and_tenant_guardian_encryption_certificates_verify_with_openssl_against_their_own_signing_certificate()
    {
        var fabric = await _service.FabricGuardianAsync();
        string fabricSigning = Pem.WriteCertificate(_files["fabric-signing.pem"], fabric.SigningCertificate);
        string fabricEncryption = Pem.WriteCertificate(_files["fabric-encryption.pem"], fabric.EncryptionCertificate);
        await AssertVerifiesAsync(fabricSigning, fabricEncryption);

        // The guardian's signing certificate is the KPS signing key's certificate (the one 'keys list' shows).
        var keys = await _service.Admin.ListKeysAsync(CancellationToken.None);
        Assert.Equal(Convert.ToBase64String(fabric.SigningCertificate), Assert.Single(keys, k => k.Role == "signing" && k.IsPrimary).Certificate);

        // A tenant guardian made by the CLI.
        (await HgsCli.RunAsync("guardian", "new", "--name", "openssl-tenant", "--out", _files["tenant.json"], "--public-out", _files["tenant.pub.json"])).Succeeded();
        var tenant = GuardianMetadata.Parse(await File.ReadAllTextAsync(_files["tenant.pub.json"]));
        Assert.Equal("openssl-tenant", tenant.Name);
        string tenantSigning = Pem.WriteCertificate(_files["tenant-signing.pem"], tenant.SigningCertificate);
        string tenantEncryption = Pem.WriteCertificate(_files["tenant-encryption.pem"], tenant.EncryptionCertificate);
        await AssertVerifiesAsync(tenantSigning, tenantEncryption);

        // Negative: neither guardian's encryption certificate verifies against the other's signing certificate.
        var crossed = await Tool.RunAsync("openssl", "verify", "-CAfile", fabricSigning, tenantEncryption);
        Assert.NotEqual(0, crossed.ExitCode);
        Assert.Contains("unable to get local issuer certificate", crossed.StdOut + crossed.StdErr, StringComparison.Ordinal);
        crossed = await Tool.RunAsync("openssl", "verify", "-CAfile", tenantSigning, fabricEncryption);
        Assert.NotEqual(0, crossed.ExitCode);
    }

    private static async Task AssertVerifiesAsync(string caPem, string certificatePem)
    {
        var result = await Tool.RunAsync("openssl", "verify", "-x509_strict", "-CAfile", caPem, certificatePem);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{certificatePem}: OK", result.StdOut.Trim());
    }

    /// <summary>A self-signed CA certificate with the real signer's subject and subject key identifier, but a new key.</summary>
    private static byte[] Impostor(byte[] realSignerDer)
    {
        using var real = X509CertificateLoader.LoadCertificate(realSignerDer);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(real.SubjectName, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(real.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single());
        using var impostor = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return impostor.RawData;
    }
}
