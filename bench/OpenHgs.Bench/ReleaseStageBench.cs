using System.Diagnostics;
using System.Security.Cryptography;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Service.KeyProtection;

namespace OpenHgs.Bench;

/// <summary>What a release needs, prepared once: the request body and its parts.</summary>
public sealed record ReleaseFixture(byte[] Body, byte[] KeyProtector, byte[] HealthCertificate, GuardianMetadata Fabric, byte[] AttestationSignerCertificate, byte[] HostEncryptionPublicKey);

/// <summary>CPU cost (ms of CPU per call, measured on one thread) of each step of the release path, in process, with the same key store.</summary>
public sealed record ReleaseStages(double ValidateHealthCertificateMs, double ParseAndVerifyMs, double UnwrapMs, bool HsmNative, double RollMs, double RollSignMs, double RsaPublicImportMs, double RsaVerifyMs)
{
    public double TotalMs => ValidateHealthCertificateMs + ParseAndVerifyMs + UnwrapMs + RollMs;
}

/// <summary>
/// Times the release path's steps one by one on one thread, as <c>KeyReleaseService</c> runs them: health certificate
/// validation, key protector parse + signature verification, the unwrap in the key store, and the roll (re-wrap to every
/// guardian, KPS signature (RS256 or ES256, by the key) in the key store, and a check of that signature).
/// </summary>
public static class ReleaseStageBench
{
    /// <param name="handling">The release key handling the service decided at start-up (<c>HgsRuntime.TransportKeyHandlingFor</c>): whether and with which hashes the token re-wraps.</param>
    public static ReleaseStages Run(IKeyStore store, FabricKeyLabels keys, ReleaseFixture fixture, TransportKeyHandling handling, TimeSpan perStage)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(fixture);
        ArgumentNullException.ThrowIfNull(handling);
        var validator = new HealthCertificateValidator([fixture.AttestationSignerCertificate]);
        var protector = KeyProtector.Parse(fixture.KeyProtector);
        var wrapping = protector.FindWrappingForEncryptionCertificate(fixture.Fabric.EncryptionCertificate)
            ?? throw new InvalidOperationException("the key protector has no wrapping for the fabric");
        var padding = KeyProtectorAlgorithms.GetPadding(wrapping.WrappedKey.Algorithm);
        using var encryption = new KeyStoreRsa(store, keys.Encryption);
        // The KPS signing key as the service holds it: RSA (RS256) or EC (ES256), by the key's type.
        using AsymmetricAlgorithm signing = keys.Signing.Algorithm.IsRsa() ? new KeyStoreRsa(store, keys.Signing) : new KeyStoreECDsa(store, keys.Signing);
        var (_, kpsSign) = KeySignature.For(keys.Signing);
        byte[] fresh = RandomNumberGenerator.GetBytes(32);
        // The service's own decision and request (KeyReleaseService.RewrapTransportKey), on the bench's store.
        var hashes = handling.NativeHashes(KeyProtectorAlgorithms.GetOaepHash(wrapping.WrappedKey.Algorithm));
        bool native = hashes is not null && store is ITransportKeyRewrapper;
        Action unwrap = native
            ? () => ((ITransportKeyRewrapper)store).Rewrap(KeyReleaseService.RewrapRequestFor(keys.Encryption.Label, wrapping, protector, fixture.HostEncryptionPublicKey, hashes!.Value))
            : () => CryptographicOperations.ZeroMemory(encryption.Decrypt(wrapping.WrappedKey.Value, padding));
        return new ReleaseStages(
            Time(perStage, () => validator.Validate(fixture.HealthCertificate, DateTimeOffset.UtcNow, null)),
            Time(perStage, () => KeyReleaseService.ParseAndVerify(fixture.KeyProtector)),
            Time(perStage, unwrap),
            native,
            Time(perStage, () => KeyProtectorBuilder.Roll(protector, fresh, signing, wrapping.Id)),
            Time(perStage, () => store.SignHash(kpsSign)),
            Time(perStage, () =>
            {
                using var key = RSA.Create();
                key.ImportSubjectPublicKeyInfo(fixture.HostEncryptionPublicKey, out _);
            }),
            TimeVerify(perStage, fixture.HostEncryptionPublicKey));
    }

    /// <summary>One RS256 verification with an already imported public key (what a cached guardian key would cost).</summary>
    private static double TimeVerify(TimeSpan duration, byte[] spki)
    {
        using var key = RSA.Create();
        key.ImportSubjectPublicKeyInfo(spki, out _);
        byte[] data = RandomNumberGenerator.GetBytes(4096);
        byte[] signature = new byte[key.KeySize / 8];
        return Time(duration, () => key.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    internal static double Time(TimeSpan duration, Action action)
    {
        // Warm up longer than we measure, so tiered JIT has promoted the hot code and its compile time is not charged.
        long warm = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * 1.5 * Stopwatch.Frequency);
        do
        {
            action();
        }
        while (Stopwatch.GetTimestamp() < warm);
        var cpu = CpuClock.Now();
        long until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        int count = 0;
        do
        {
            action();
            count++;
        }
        while (Stopwatch.GetTimestamp() < until);
        return (CpuClock.Now() - cpu).TotalMilliseconds / count;
    }
}
