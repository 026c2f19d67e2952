using System.Security.Cryptography;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>
/// Test-only stand-in for an HSM-backed key: signs and decrypts through an inner key but, like
/// <c>KeyStoreRsa</c>, refuses to export private parameters (and so every private export format).
/// </summary>
internal sealed class NonExportableRsa : RSA
{
    private readonly RSA _inner;

    public NonExportableRsa(RSA inner)
    {
        _inner = inner;
        KeySizeValue = inner.KeySize;
        LegalKeySizesValue = [new KeySizes(inner.KeySize, inner.KeySize, 0)];
    }

    public static NonExportableRsa Create2048() => new(TestKeys.Next());

    public int SignCount { get; private set; }

    public int DecryptCount { get; private set; }

    public override RSAParameters ExportParameters(bool includePrivateParameters) =>
        includePrivateParameters
            ? throw new CryptographicException("HSM key: private parameters cannot be exported.")
            : _inner.ExportParameters(false);

    public override void ImportParameters(RSAParameters parameters) => throw new NotSupportedException("HSM key.");

    public override byte[] SignHash(byte[] hash, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding)
    {
        SignCount++;
        return _inner.SignHash(hash, hashAlgorithm, padding);
    }

    public override bool VerifyHash(byte[] hash, byte[] signature, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding) =>
        _inner.VerifyHash(hash, signature, hashAlgorithm, padding);

    public override byte[] Decrypt(byte[] data, RSAEncryptionPadding padding)
    {
        DecryptCount++;
        return _inner.Decrypt(data, padding);
    }

    public override byte[] Encrypt(byte[] data, RSAEncryptionPadding padding) => _inner.Encrypt(data, padding);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
