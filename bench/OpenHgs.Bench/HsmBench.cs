using System.Diagnostics;
using System.Security.Cryptography;
using OpenHgs.Crypto;

namespace OpenHgs.Bench;

/// <summary>What the key store itself can do with all cores: one thread per core, each calling the store in a loop.</summary>
/// <summary>Rates are wall-clock with one thread per core; the CPU figures are CPU ms per operation (robust to a busy machine).</summary>
public sealed record HsmRates(
    int Threads,
    double UnwrapPerSecond,
    double AttestationSignPerSecond,
    double KpsSignPerSecond,
    string KpsSignAlgorithm,
    double? NativeRewrapPerSecond,
    double UnwrapCpuMs,
    double AttestationSignCpuMs,
    double KpsSignCpuMs,
    double? NativeRewrapCpuMs,
    long Failures)
{
    /// <summary>Releases per second the store allows: each release needs one unwrap (HSM-native re-wrap where offered) AND one KPS signature (ES256 or RS256, by the key).</summary>
    public double ReleaseCeilingPerSecond => 1 / (1 / (NativeRewrapPerSecond ?? UnwrapPerSecond) + 1 / KpsSignPerSecond);
}

/// <summary>The fabric's three keys in the store, found by the labels <c>hgs server init</c> gives them.</summary>
public sealed record FabricKeyLabels(StoredKey Encryption, StoredKey Signing, StoredKey AttestationSigner)
{
    public static FabricKeyLabels Find(IKeyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var keys = store.ListKeys();
        StoredKey One(string prefix) => keys.SingleOrDefault(k => k.Label.StartsWith(prefix, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"the key store holds no single key labelled {prefix}*");
        return new FabricKeyLabels(One("openhgs-enc-"), One("openhgs-sig-"), One("openhgs-att-"));
    }
}

/// <summary>Raw key store throughput through <see cref="IKeyStore"/> (for PKCS#11: our Pkcs11KeyStore, its session pool, the token).</summary>
public sealed class HsmBench(IKeyStore store, FabricKeyLabels keys)
{
    private long _failures;

    public HsmRates Run(TimeSpan duration)
    {
        int threads = Environment.ProcessorCount;
        var oaep = store.Capabilities.OaepSha256 ? OaepHash.Sha256 : OaepHash.Sha1;
        byte[] ciphertext;
        using (var encryption = RSA.Create())
        {
            encryption.ImportSubjectPublicKeyInfo(keys.Encryption.SubjectPublicKeyInfo, out _);
            ciphertext = encryption.Encrypt(RandomNumberGenerator.GetBytes(32), oaep == OaepHash.Sha256 ? RSAEncryptionPadding.OaepSHA256 : RSAEncryptionPadding.OaepSHA1);
        }

        byte[] digest = SHA256.HashData("OpenHGS bench"u8);
        var decrypt = new DecryptRequest(keys.Encryption.Label, ciphertext, oaep);
        var es256 = new SignHashRequest(keys.AttestationSigner.Label, digest, SignatureScheme.EcdsaSha256);
        var (kpsName, kpsSign) = KeySignature.For(keys.Signing);
        var unwrap = Measure(threads, duration, () => CryptographicOperations.ZeroMemory(store.Decrypt(decrypt)));
        var sign = Measure(threads, duration, () => store.SignHash(es256));
        var kps = Measure(threads, duration, () => store.SignHash(kpsSign));
        var rewrap = MeasureRewrap(threads, duration, ciphertext, oaep);
        return new HsmRates(threads, unwrap.PerSecond, sign.PerSecond, kps.PerSecond, kpsName, rewrap?.PerSecond, unwrap.CpuMs, sign.CpuMs, kps.CpuMs, rewrap?.CpuMs, _failures);
    }

    /// <summary>The HSM-native release step (unwrap + HMAC + wrap to a host key inside the token), when the store offers it.</summary>
    private (double PerSecond, double CpuMs)? MeasureRewrap(int threads, TimeSpan duration, byte[] ciphertext, OaepHash unwrap)
    {
        if (store is not ITransportKeyRewrapper rewrapper)
        {
            return null;
        }

        var target = rewrapper.CanRewrap(unwrap, OaepHash.Sha256) ? OaepHash.Sha256 : OaepHash.Sha1;
        if (!rewrapper.CanRewrap(unwrap, target))
        {
            return null;
        }

        using var host = RSA.Create(2048);
        var request = new RewrapRequest(keys.Encryption.Label, ciphertext, unwrap, RandomNumberGenerator.GetBytes(4096), host.ExportSubjectPublicKeyInfo(), target);
        return Measure(threads, duration, () => rewrapper.Rewrap(request));
    }

    private (double PerSecond, double CpuMs) Measure(int threads, TimeSpan duration, Action operation)
    {
        var run = TokenLoop.Run(threads, duration, operation);
        _failures += run.Failures;
        return (run.PerSecond, run.CpuMs);
    }
}
