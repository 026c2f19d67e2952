using System.Security.Cryptography;

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

    public void Dispose()
    {
        Signing.Dispose();
        Encryption.Dispose();
    }
}
