using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

/// <summary>A SoftHSM token with an open store and three keys, shared by the tests of one class.</summary>
public sealed class Pkcs11StoreFixture : IDisposable
{
    public const string RsaDecryptLabel = "rsa-decrypt";
    public const string RsaSignLabel = "rsa-sign";
    public const string EcSignLabel = "ec-sign";

    public Pkcs11StoreFixture()
    {
        Token = new SoftHsmToken();
        Store = Token.OpenKeyStore();
        RsaDecrypt = Store.CreateKey(new CreateKeyRequest(RsaDecryptLabel, KeyAlgorithm.Rsa2048, KeyUsage.Decrypt));
        RsaSign = Store.CreateKey(new CreateKeyRequest(RsaSignLabel, KeyAlgorithm.Rsa2048, KeyUsage.Sign));
        EcSign = Store.CreateKey(new CreateKeyRequest(EcSignLabel, KeyAlgorithm.EcP256, KeyUsage.Sign));
    }

    public SoftHsmToken Token { get; }

    public Pkcs11KeyStore Store { get; }

    public StoredKey RsaDecrypt { get; }

    public StoredKey RsaSign { get; }

    public StoredKey EcSign { get; }

    public void Dispose()
    {
        Store.Dispose();
        Token.Dispose();
    }
}
