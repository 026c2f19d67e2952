using System.Security.Cryptography;
using System.Text;
using OpenHgs.Client;
using OpenHgs.Crypto;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// A host whose signing key is RSA-3072 from <c>hgs client keygen --signing-key rsa3072</c>, registered, attesting and
/// unlocking a VM key, every step the real <c>hgs</c> against a real <c>hgs server run</c> (design change 65). The service
/// always registered RSA keys and verified RS256, but the client could only make and sign with EC keys.
/// </summary>
public sealed class RsaHostKeyCliTestsOnSqlite(SoftwareServerFixture fixture) : RsaHostKeyCliTests(fixture), IClassFixture<SoftwareServerFixture>;

/// <summary>The same with the service on PostgreSQL.</summary>
public sealed class RsaHostKeyCliTestsOnPostgres(PostgresServerFixture fixture) : RsaHostKeyCliTests(fixture), IClassFixture<PostgresServerFixture>;

public abstract class RsaHostKeyCliTests(SoftwareServerFixture fixture)
{
    [Fact]
    public async Task A_host_with_an_rsa3072_key_from_keygen_attests_and_unlocks()
    {
        string work = fixture.NewFolder("rsa-host");
        string P(string name) => Path.Combine(work, name);
        string host = "rsa-" + Guid.NewGuid().ToString("N")[..8];

        // Host: an RSA-3072 signing key; admin registers its public key.
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", P("host-keys"), "--signing-key", "rsa3072")).Succeeded().StdOut.Trim();
        using (var registered = RSA.Create())
        {
            registered.ImportFromPem(await File.ReadAllTextAsync(publicKey));
            Assert.Equal(3072, registered.KeySize);
        }

        (await fixture.RunAsync("hosts", "add-key", "--name", host, "--public-key", publicKey)).Succeeded();

        // Owner: a key protector granted to the fabric.
        var (keyProtector, transportKey) = await fixture.NewKeyProtectorAsync(work, "owner");

        // Host: configure (which checks the keys as the service will), attest, unlock.
        string state = P("host-state");
        await fixture.ConfigureHostAsync(state, P("host-keys"));
        var attest = (await HgsCli.RunAsync("client", "attest", "--state", state, "--json")).Succeeded().Json();
        Assert.Equal("Passed", (string?)attest["status"]);
        Assert.Empty(attest["reasons"]!.AsArray());
        (await HgsCli.RunAsync("client", "unlock", "--state", state, "--kp", keyProtector, "--out", P("unlocked.tk"))).Succeeded();
        Assert.Equal(await File.ReadAllBytesAsync(transportKey), await File.ReadAllBytesAsync(P("unlocked.tk")));

        var records = (await fixture.RunAsync("audit", "list", "--subject", host, "--json")).Succeeded().Json().AsArray();
        Assert.Contains(records, r => (string?)r!["event"] == "attestation.attest" && (string?)r["outcome"] == "success");
        Assert.Contains(records, r => (string?)r!["event"] == "keyprotection.release" && (string?)r["outcome"] == "success");
        Assert.DoesNotContain(records, r => (string?)r!["outcome"] != "success");
    }

    [Fact]
    [Trait("Attack", "A101")]
    public async Task A_1024_bit_rsa_signing_key_is_refused_by_hosts_add_key_and_client_configure_naming_its_size()
    {
        string work = fixture.NewFolder("rsa-1024");
        string keys = Path.Combine(work, "keys");
        (await HgsCli.RunAsync("client", "keygen", "--out", keys)).Succeeded();
        using var weak = RSA.Create(1024);
        OwnerOnlyFile.Replace(Path.Combine(keys, HostKeyPair.SigningKeyFile), Encoding.ASCII.GetBytes(weak.ExportPkcs8PrivateKeyPem()));
        string publicKey = Path.Combine(keys, HostKeyPair.PublicKeyFile);
        await File.WriteAllTextAsync(publicKey, weak.ExportSubjectPublicKeyInfoPem() + "\n");

        var registration = await fixture.RunAsync("hosts", "add-key", "--name", "rsa-1024-" + Guid.NewGuid().ToString("N")[..8], "--public-key", publicKey);
        Assert.Equal("error: PublicKeyUnsupported: publicKey: RSA keys must be at least 2048 bits, not 1024.", registration.FailedWithOneErrorLine(2));

        using var closed = new ClosedPort();
        string state = Path.Combine(work, "state");
        var configure = await HgsCli.RunAsync("client", "configure", "--state", state, "--attestation-url", closed.Url, "--key-protection-url", closed.Url, "--host-key", keys);
        Assert.Equal("error: HostKeyInvalid: The host signing key is one the attestation service refuses: RSA keys must be at least 2048 bits, not 1024.", configure.FailedWithOneErrorLine(2));
        Assert.False(Directory.Exists(state), "a refused configure wrote a state folder");
    }

    [Theory]
    [InlineData("rsa1024")]
    [InlineData("P256")]
    [InlineData("ed25519")]
    public async Task Keygen_refuses_another_signing_key_type_in_one_line_and_writes_nothing(string type)
    {
        string keys = Path.Combine(fixture.NewFolder("keygen-type"), "keys");
        var refused = await HgsCli.RunAsync("client", "keygen", "--out", keys, "--signing-key", type);
        Assert.Equal($"error: --signing-key: '{type}' is not one of p256, p384, rsa3072.", refused.FailedWithOneErrorLine(2));
        Assert.False(Directory.Exists(keys), "a refused keygen made the key folder");
    }

    [Fact]
    public async Task Keygen_still_makes_a_p256_signing_key_unless_told()
    {
        string publicKey = (await HgsCli.RunAsync("client", "keygen", "--out", Path.Combine(fixture.NewFolder("keygen-default"), "keys"))).Succeeded().StdOut.Trim();
        using var key = ECDsa.Create();
        key.ImportFromPem(await File.ReadAllTextAsync(publicKey));
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, key.ExportParameters(false).Curve.Oid.Value);
    }
}
