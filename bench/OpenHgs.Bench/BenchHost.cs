using System.Security.Cryptography;
using OpenHgs.Client;

namespace OpenHgs.Bench;

/// <summary>A guarded host's keys held in memory: ECDSA P-256 to sign evidence, RSA-2048 that health certificates certify.</summary>
public sealed class BenchHost : IDisposable
{
    private BenchHost(string name, ECDsa signing, RSA encryption)
    {
        Name = name;
        Signing = signing;
        Encryption = encryption;
        SigningPublicKey = signing.ExportSubjectPublicKeyInfo();
        EncryptionPublicKey = encryption.ExportSubjectPublicKeyInfo();
        SigningPublicKeyPem = signing.ExportSubjectPublicKeyInfoPem();
    }

    public string Name { get; }

    public ECDsa Signing { get; }

    public RSA Encryption { get; }

    public byte[] SigningPublicKey { get; }

    public byte[] EncryptionPublicKey { get; }

    public string SigningPublicKeyPem { get; }

    public static BenchHost Create(string name) => new(name, ECDsa.Create(ECCurve.NamedCurves.nistP256), RSA.Create(2048));

    /// <summary>
    /// Registers <paramref name="hosts"/> through the admin API, then fillers (keys nobody holds, named as the bench names
    /// its hosts) up to <paramref name="population"/> registered hosts.
    /// </summary>
    public static async Task RegisterAsync(AdminClient admin, IReadOnlyList<BenchHost> hosts, int population, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(admin);
        ArgumentNullException.ThrowIfNull(hosts);
        foreach (var host in hosts)
        {
            await admin.AddHostKeyAsync(host.Name, host.SigningPublicKeyPem, cancellationToken).ConfigureAwait(false);
        }

        for (int i = hosts.Count; i < population; i++)
        {
            using var filler = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            await admin.AddHostKeyAsync($"bench-host-{i:D2}", filler.ExportSubjectPublicKeyInfoPem(), cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        Signing.Dispose();
        Encryption.Dispose();
    }
}
