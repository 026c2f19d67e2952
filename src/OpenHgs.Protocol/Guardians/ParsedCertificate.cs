using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace OpenHgs.Protocol.Guardians;

/// <summary>
/// One guardian certificate, parsed once: the parts the checks need (DER, subject public key, to-be-signed bytes,
/// signature and its algorithm). Immutable, so one instance serves every thread. Only public material.
/// </summary>
/// <remarks>
/// The certificate's RSA public key is handed out through <see cref="LeaseKey"/> from a small pool: importing an RSA
/// public key costs ≈0.13 ms in OpenSSL 3 (decoder locks), many times the verification it is imported for, and a .NET
/// <see cref="RSA"/> instance is not documented as safe for concurrent use, so each caller gets one to itself.
/// </remarks>
internal sealed class ParsedCertificate
{
    private readonly ConcurrentBag<RSA> _keys = [];
    private readonly int _maxPooledKeys = Math.Max(2, Environment.ProcessorCount * 2);
    private int _pooled;

    internal ParsedCertificate(byte[] der, byte[] subjectPublicKeyInfo, int? rsaKeyBits, byte[] tbsCertificate, byte[] signature, HashAlgorithmName? signatureHash)
    {
        Der = der;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        RsaKeyBits = rsaKeyBits;
        TbsCertificate = tbsCertificate;
        Signature = signature;
        SignatureHash = signatureHash;
    }

    public byte[] Der { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>The RSA key size when the key is RSA of an accepted size (2048–8192 bits), else null.</summary>
    public int? RsaKeyBits { get; }

    public bool HasAcceptedRsaKey => RsaKeyBits is not null;

    public byte[] TbsCertificate { get; }

    public byte[] Signature { get; }

    /// <summary>The hash of an accepted signature algorithm (RSASSA-PKCS1-v1_5 with SHA-2, consistent inner and outer algorithm), else null.</summary>
    public HashAlgorithmName? SignatureHash { get; }

    /// <summary>A public-only RSA key of this certificate for the caller alone until the lease is disposed.</summary>
    /// <exception cref="InvalidOperationException">The certificate has no accepted RSA key (check <see cref="HasAcceptedRsaKey"/>).</exception>
    public RsaPublicKeyLease LeaseKey()
    {
        if (!HasAcceptedRsaKey)
        {
            throw new InvalidOperationException("The certificate has no accepted RSA key.");
        }

        if (_keys.TryTake(out RSA? pooled))
        {
            Interlocked.Decrement(ref _pooled);
            return new RsaPublicKeyLease(this, pooled);
        }

        var key = RSA.Create();
        key.ImportSubjectPublicKeyInfo(SubjectPublicKeyInfo, out _);
        return new RsaPublicKeyLease(this, key);
    }

    internal void Return(RSA key)
    {
        if (Interlocked.Increment(ref _pooled) <= _maxPooledKeys)
        {
            _keys.Add(key);
            return;
        }

        Interlocked.Decrement(ref _pooled);
        key.Dispose();
    }
}

/// <summary>A pooled public key of a <see cref="ParsedCertificate"/>; dispose to give it back.</summary>
internal readonly struct RsaPublicKeyLease(ParsedCertificate owner, RSA key) : IDisposable
{
    public RSA Key => key;

    public void Dispose() => owner.Return(key);
}
