using System.Security.Cryptography;

namespace OpenHgs.Crypto;

/// <summary>
/// An <see cref="ECDsa"/> whose signing happens inside an <see cref="IKeyStore"/> (r‖s, as .NET expects), so
/// <see cref="System.Security.Cryptography.X509Certificates.X509SignatureGenerator.CreateForECDsa"/> can sign
/// certificates with HSM keys. Verification runs in .NET; private parameters cannot be exported.
/// </summary>
public sealed class KeyStoreECDsa : ECDsa
{
    private readonly IKeyStore _store;
    private readonly ECDsa _public;
    private readonly byte[] _subjectPublicKeyInfo;

    public KeyStoreECDsa(IKeyStore store, StoredKey key)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(key);
        _store = store;
        Key = key;
        _public = ECDsa.Create();
        _public.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        _subjectPublicKeyInfo = _public.ExportSubjectPublicKeyInfo();
        KeySizeValue = _public.KeySize;
        LegalKeySizesValue = [new KeySizes(_public.KeySize, _public.KeySize, 0)];
    }

    public StoredKey Key { get; }

    /// <summary>
    /// OpenSSL's export, made once: a release asks for it twice (the roll's key-to-certificate check and the signature's
    /// curve check), and each export through OpenSSL reads the key's parameters again. A copy each time.
    /// </summary>
    public override byte[] ExportSubjectPublicKeyInfo() => (byte[])_subjectPublicKeyInfo.Clone();

    public override bool TryExportSubjectPublicKeyInfo(Span<byte> destination, out int bytesWritten)
    {
        bool fits = _subjectPublicKeyInfo.AsSpan().TryCopyTo(destination);
        bytesWritten = fits ? _subjectPublicKeyInfo.Length : 0;
        return fits;
    }

    public override ECParameters ExportParameters(bool includePrivateParameters) =>
        includePrivateParameters
            ? throw new CryptographicException("The private key lives in the key store and cannot be exported.")
            : _public.ExportParameters(false);

    public override ECParameters ExportExplicitParameters(bool includePrivateParameters) =>
        includePrivateParameters
            ? throw new CryptographicException("The private key lives in the key store and cannot be exported.")
            : _public.ExportExplicitParameters(false);

    public override void ImportParameters(ECParameters parameters) =>
        throw new NotSupportedException("A key store key cannot be replaced.");

    public override void GenerateKey(ECCurve curve) =>
        throw new NotSupportedException("A key store key cannot be replaced.");

    public override byte[] SignHash(byte[] hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        var scheme = hash.Length switch
        {
            32 => SignatureScheme.EcdsaSha256,
            48 => SignatureScheme.EcdsaSha384,
            _ => throw new CryptographicException($"Key store ECDSA keys sign SHA-256 or SHA-384 digests, not {hash.Length}-byte ones."),
        };
        return _store.SignHash(new SignHashRequest(Key.Label, hash, scheme));
    }

    public override bool VerifyHash(byte[] hash, byte[] signature) => _public.VerifyHash(hash, signature);

    protected override byte[] HashData(byte[] data, int offset, int count, HashAlgorithmName hashAlgorithm) =>
        hashAlgorithm == HashAlgorithmName.SHA256 ? SHA256.HashData(data.AsSpan(offset, count))
        : hashAlgorithm == HashAlgorithmName.SHA384 ? SHA384.HashData(data.AsSpan(offset, count))
        : throw new CryptographicException($"Unsupported hash {hashAlgorithm.Name}.");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _public.Dispose();
        }

        base.Dispose(disposing);
    }
}
