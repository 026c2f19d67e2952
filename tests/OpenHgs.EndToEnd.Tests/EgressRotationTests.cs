using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.KeyProtection;

namespace OpenHgs.EndToEnd.Tests;

/// <summary>Key rotation on release, with both fabrics' services on SQLite.</summary>
public sealed class EgressRotationTestsOnSqlite() : EgressRotationTests(DatabaseKind.Sqlite);

/// <summary>The same with both fabrics' services on PostgreSQL.</summary>
public sealed class EgressRotationTestsOnPostgres() : EgressRotationTests(DatabaseKind.Postgres);

/// <summary>
/// Point 5 of issue 8: a release hands the host the egress key protector's fresh transport key, so the VM moves to a
/// key that a guardian revoked before the release never had. Two real services (fabric A and fabric B), the real
/// <c>hgs</c> for every owner and host step.
/// </summary>
public abstract class EgressRotationTests(DatabaseKind database) : IAsyncLifetime
{
    private ServiceHarness _fabricA = null!;
    private ServiceHarness _fabricB = null!;
    private string _work = null!;

    public async Task InitializeAsync()
    {
        _fabricA = await ServiceHarness.StartAsync(database: database, fabricName: "Fabric A");
        _fabricB = await ServiceHarness.StartAsync(database: database, fabricName: "Fabric B");
        _work = Path.Combine(_fabricA.Root, "work");
        Directory.CreateDirectory(_work);
    }

    public async Task DisposeAsync()
    {
        await _fabricA.DisposeAsync();
        await _fabricB.DisposeAsync();
    }

    [Fact]
    public async Task After_a_roll_the_revoked_guardians_key_no_longer_opens_the_resealed_vm()
    {
        // Owner: a key protector granted to both fabrics, then fabric B's guardian revoked.
        await File.WriteAllTextAsync(P("fabric-a.json"), await _fabricA.Admin.ExportGuardianAsync(CancellationToken.None));
        await File.WriteAllTextAsync(P("fabric-b.json"), await _fabricB.Admin.ExportGuardianAsync(CancellationToken.None));
        (await HgsCli.RunAsync("guardian", "new", "--name", "owner", "--out", P("owner.json"))).Succeeded();
        (await HgsCli.RunAsync("kp", "new", "--owner", P("owner.json"), "--guardian", P("fabric-a.json"), "--guardian", P("fabric-b.json"), "--out", P("vm.kp"), "--transport-key-out", P("vm.tk"))).Succeeded();
        (await HgsCli.RunAsync("kp", "revoke", "--kp", P("vm.kp"), "--owner", P("owner.json"), "--guardian", "Fabric B", "--out", P("vm-revoked.kp"))).Succeeded();
        byte[] ownersKey = await File.ReadAllBytesAsync(P("vm.tk"));
        var hostA = await _fabricA.AddHostAsync("host-a");
        var hostB = await _fabricB.AddHostAsync("host-b");

        // Fabric A releases the current (ingress) key, the egress key protector and its fresh (egress) key.
        (await Unlock(hostA, "vm-revoked.kp", "ingress.key", "--egress-out", P("vm-next.kp"), "--egress-key-out", P("egress.key"))).Succeeded();
        byte[] ingressKey = await File.ReadAllBytesAsync(P("ingress.key"));
        byte[] egressKey = await File.ReadAllBytesAsync(P("egress.key"));
        Assert.Equal(ownersKey, ingressKey);
        Assert.Equal(32, egressKey.Length);
        Assert.NotEqual(ingressKey, egressKey);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("egress.key")));

        // The egress key the host received is the egress key protector's: the owner unwraps the same bytes from it.
        using var owner = LocalGuardian.Parse(await File.ReadAllTextAsync(P("owner.json")));
        byte[] egressProtector = await File.ReadAllBytesAsync(P("vm-next.kp"));
        var next = KeyProtector.Parse(egressProtector);
        KeyProtectorVerifier.VerifySignatures(next);
        Assert.Equal(egressKey, KeyProtectorBuilder.UnwrapAsOwner(next, owner));
        Assert.NotNull(next.FindWrappingForGuardian("Fabric A"));
        Assert.Null(next.FindWrappingForGuardian("Fabric B"));

        // The host re-seals the VM's data with the egress key and keeps the egress key protector.
        byte[] secret = Encoding.UTF8.GetBytes("the VM's volume master key");
        byte[] resealed = Seal(egressKey, secret);

        // Fabric B's service still releases the old key protector (it was never rolled there): the old key, useless now.
        (await Unlock(hostB, "vm.kp", "old.key")).Succeeded();
        byte[] oldKey = await File.ReadAllBytesAsync(P("old.key"));
        Assert.Equal(ownersKey, oldKey);
        Assert.Throws<AuthenticationTagMismatchException>(() => Open(oldKey, resealed));

        // Fabric B cannot release the egress key protector: it holds no wrapping for it.
        var refused = await Unlock(hostB, "vm-next.kp", "b-next.key");
        Assert.StartsWith("error: NotGrantedToFabric:", refused.FailedWithOneErrorLine(1), StringComparison.Ordinal);
        Assert.False(File.Exists(P("b-next.key")));

        // Fabric A releases the egress key protector: the egress key, which opens the re-sealed data.
        (await Unlock(hostA, "vm-next.kp", "next.key")).Succeeded();
        byte[] nextKey = await File.ReadAllBytesAsync(P("next.key"));
        Assert.Equal(egressKey, nextKey);
        Assert.Equal(secret, Open(nextKey, resealed));

        // The release record names the egress key protector (by hash) and says its key went to the host.
        var records = await _fabricA.Admin.ReadAuditAsync(100, CancellationToken.None);
        string hash = Convert.ToHexStringLower(SHA256.HashData(egressProtector));
        var first = Assert.Single(records, r => r.Event == "keyprotection.release" && r.Outcome == "success" && Detail(r.Details, "egressKeyProtectorSha256") == hash);
        Assert.Equal("released", Detail(first.Details, "egressTransportKey"));
    }

    [Fact]
    public async Task A_client_that_does_not_ask_for_the_egress_key_gets_the_answer_it_knows()
    {
        // Clients from before the egress key refuse unknown members: the member must be absent, not null.
        using var tenant = new Tenant();
        var (protector, _) = tenant.CreateProtector(await _fabricA.FabricGuardianAsync());
        var host = await _fabricA.AddHostAsync("old-host");
        using var client = host.Client();
        byte[] certificate = (await client.AttestAsync(CancellationToken.None)).HealthCertificate!;
        using var raw = new RawProtocol(_fabricA.Url);

        var answer = await raw.PostAsync("keyprotection/v1/release", JsonSerializer.Serialize(new { keyProtector = Convert.ToBase64String(protector.ToJson()), healthCertificate = Convert.ToBase64String(certificate) }));

        Assert.Equal(200, answer.Status);
        Assert.Equal(["egressKeyProtector", "transportKey"], answer.Body.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var records = await _fabricA.Admin.ReadAuditAsync(100, CancellationToken.None);
        var release = Assert.Single(records, r => r.Event == "keyprotection.release");
        Assert.Equal("not-requested", Detail(release.Details, "egressTransportKey"));
    }

    [Fact]
    public async Task Unlock_refuses_bad_output_options_before_asking_for_any_key()
    {
        using var tenant = new Tenant();
        var (protector, _) = tenant.CreateProtector(await _fabricA.FabricGuardianAsync());
        await File.WriteAllBytesAsync(P("vm.kp"), protector.ToJson());
        var host = await _fabricA.AddHostAsync("host-o");
        await File.WriteAllTextAsync(P("taken.kp"), "an egress key protector kept from an earlier start");

        // The egress key alone would let the host seal data that only the egress key protector opens.
        var lone = await Unlock(host, "vm.kp", "a.key", "--egress-key-out", P("a-next.key"));
        Assert.Contains("--egress-key-out needs --egress-out", lone.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var existing = await Unlock(host, "vm.kp", "b.key", "--egress-out", P("taken.kp"), "--egress-key-out", P("b-next.key"));
        Assert.Contains("taken.kp' already exists", existing.FailedWithOneErrorLine(2), StringComparison.Ordinal);
        var same = await Unlock(host, "vm.kp", "c.key", "--egress-out", P("c.key"));
        Assert.Contains("must name different files", same.FailedWithOneErrorLine(2), StringComparison.Ordinal);

        Assert.Equal(["taken.kp", "vm.kp"], Directory.GetFiles(_work).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("an egress key protector kept from an earlier start", await File.ReadAllTextAsync(P("taken.kp")));
        var records = await _fabricA.Admin.ReadAuditAsync(100, CancellationToken.None);
        Assert.DoesNotContain(records, r => r.Event == "keyprotection.release");
    }

    private Task<CliResult> Unlock(HostHarness host, string protector, string output, params string[] more) =>
        HgsCli.RunAsync(["client", "unlock", "--state", host.StateDirectory, "--kp", P(protector), "--out", P(output), .. more]);

    private string P(string name) => Path.Combine(_work, name);

    private static string? Detail(string details, string name) => JsonDocument.Parse(details).RootElement.GetProperty(name).GetString();

    /// <summary>AES-256-GCM: nonce ‖ ciphertext ‖ tag.</summary>
    private static byte[] Seal(byte[] key, byte[] plaintext)
    {
        using var aes = new AesGcm(key, AesGcm.TagByteSizes.MaxSize);
        byte[] sealedData = new byte[AesGcm.NonceByteSizes.MaxSize + plaintext.Length + AesGcm.TagByteSizes.MaxSize];
        var nonce = sealedData.AsSpan(0, AesGcm.NonceByteSizes.MaxSize);
        RandomNumberGenerator.Fill(nonce);
        aes.Encrypt(nonce, plaintext, sealedData.AsSpan(nonce.Length, plaintext.Length), sealedData.AsSpan(nonce.Length + plaintext.Length));
        return sealedData;
    }

    private static byte[] Open(byte[] key, byte[] sealedData)
    {
        using var aes = new AesGcm(key, AesGcm.TagByteSizes.MaxSize);
        int nonceLength = AesGcm.NonceByteSizes.MaxSize, tagLength = AesGcm.TagByteSizes.MaxSize;
        byte[] plaintext = new byte[sealedData.Length - nonceLength - tagLength];
        aes.Decrypt(sealedData.AsSpan(0, nonceLength), sealedData.AsSpan(nonceLength, plaintext.Length), sealedData.AsSpan(nonceLength + plaintext.Length), plaintext);
        return plaintext;
    }
}
