using System.Security.Cryptography;
using OpenHgs.Crypto.Software;

namespace OpenHgs.Crypto.Cluster.Tests.Support;

/// <summary>
/// Real software key stores holding identical keys: one store generates the keys once per test class, and every
/// member gets its own copy of that directory (as SoftHSM token directories are copied for an HSM cluster).
/// </summary>
public sealed class SoftwareKeySet : IDisposable
{
    public const string RsaDecrypt = "rsa-decrypt";
    public const string EcSign = "ec-sign";
    public const string RowMac = "row-mac";

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"openhgs-cluster-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private int _copies;

    public SoftwareKeySet()
    {
        Directory.CreateDirectory(_root);
        using IKeyStore template = Open(TemplateDirectory);
        RsaPublicKey = template.CreateKey(new CreateKeyRequest(RsaDecrypt, KeyAlgorithm.Rsa2048, KeyUsage.Decrypt)).SubjectPublicKeyInfo;
        EcPublicKey = template.CreateKey(new CreateKeyRequest(EcSign, KeyAlgorithm.EcP256, KeyUsage.Sign)).SubjectPublicKeyInfo;
        template.AsRecordAuthenticator()!.CreateMacKey(RowMac);
    }

    public byte[] RsaPublicKey { get; }

    public byte[] EcPublicKey { get; }

    private string TemplateDirectory => Path.Combine(_root, "template");

    private string KeyFile => Path.Combine(_root, "keystore.key");

    /// <summary>A fresh copy of the keys in a new directory; returns an opener for it.</summary>
    public Func<IKeyStore> NewCopy()
    {
        string directory = CopyDirectory();
        return () => Open(directory);
    }

    /// <summary>An empty store (no keys) in a new directory.</summary>
    public Func<IKeyStore> NewEmpty()
    {
        string directory = Path.Combine(_root, $"empty-{Interlocked.Increment(ref _copies)}");
        return () => Open(directory);
    }

    /// <summary>The URI of a new copy, for tests that go through the provider.</summary>
    public string NewCopyUri() => UriFor(CopyDirectory()).Text;

    public KeyStoreOpenContext Context => new(_root, Production: false);

    public byte[] Encrypt(byte[] plaintext)
    {
        using RSA rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(RsaPublicKey, out _);
        return rsa.Encrypt(plaintext, RSAEncryptionPadding.OaepSHA1);
    }

    public bool VerifyEc(byte[] hash, byte[] signature)
    {
        using ECDsa ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(EcPublicKey, out _);
        return ec.VerifyHash(hash, signature);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string CopyDirectory()
    {
        string directory = Path.Combine(_root, $"copy-{Interlocked.Increment(ref _copies)}");
        Directory.CreateDirectory(directory);
        foreach (string file in Directory.EnumerateFiles(TemplateDirectory))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }

        return directory;
    }

    private KeyStoreUri UriFor(string directory) => KeyStoreUri.Create("software", [new("path", directory)], [new("key-file", KeyFile)]);

    private IKeyStore Open(string directory) => new SoftwareKeyStoreProvider().Open(UriFor(directory), Context);
}
