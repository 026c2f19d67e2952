using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenHgs.Crypto;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Service.Integrity;
using OpenHgs.Service.KeyProtection;

namespace OpenHgs.Bench;

/// <summary>The key store calls one request makes, in order, as one action; <paramref name="Describe"/> names them for the report.</summary>
public sealed record TokenWork(string Describe, Action Run);

/// <summary>
/// The token ceiling of a request as built: exactly the key store operations the service performs for one release or
/// one attestation, run alone (no HTTP, no JSON, no database) on the same token, at the same concurrency as the
/// HTTP load — so <c>X_vs_token_ceiling</c> says how much of what the token allows the service reaches.
/// </summary>
/// <remarks>
/// The keys are the ones the service uses, found by their certificates (the key protector's wrapping names the KPS
/// encryption and signing certificates; the health certificate's signer is the attestation signer), and each signature
/// scheme follows from the key's type, not from today's choice: an RSA KPS signing key signs RS256, an EC P-256 one
/// ES256. Whether the unwrap is HSM-native is decided by the same function the service calls at start-up. How many
/// signatures and row MACs an attestation makes is measured on the running service (<see cref="ServiceCounters"/>),
/// not read off its code: row-MAC verifications are memoised (design change 58), so the count depends on the run.
/// </remarks>
public sealed class TokenCeilingBench
{
    private readonly IKeyStore _store;
    private readonly ReleaseFixture _fixture;
    private readonly TransportKeyHandling _handling;
    private readonly IReadOnlyList<StoredKey> _keys;

    public TokenCeilingBench(IKeyStore store, ReleaseFixture fixture, TransportKeyHandling handling)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(fixture);
        ArgumentNullException.ThrowIfNull(handling);
        _store = store;
        _fixture = fixture;
        _handling = handling;
        _keys = store.ListKeys();
    }

    /// <summary>
    /// A release: the transport key's unwrap with the KPS encryption key (HSM-native re-wrap to the host where the
    /// service does it; a plain RSA-OAEP decrypt where it re-wraps in memory, the wrap to the host then being software)
    /// and the KPS signature of the rolled key protector. The egress key's wrap to the host is software in both cases.
    /// </summary>
    public TokenWork Release()
    {
        var protector = KeyProtector.Parse(_fixture.KeyProtector);
        var wrapping = protector.FindWrappingForEncryptionCertificate(_fixture.Fabric.EncryptionCertificate)
            ?? throw new InvalidOperationException("the key protector has no wrapping for the fabric");
        var encryption = KeyOf(wrapping.EncryptionCertificate, "KPS encryption");
        var signing = KeyOf(wrapping.SigningCertificate, "KPS signing");
        var unwrapHash = KeyProtectorAlgorithms.GetOaepHash(wrapping.WrappedKey.Algorithm);
        var (signName, sign) = Signature(signing);
        if (_handling.NativeHashes(unwrapHash) is { } hashes)
        {
            var rewrap = new RewrapRequest(encryption.Label, wrapping.WrappedKey.Value, hashes.Unwrap, protector.Payload.ToArray(), _fixture.HostEncryptionPublicKey, hashes.Target);
            var rewrapper = _handling.Rewrapper!;
            return new TokenWork($"HSM-native re-wrap ({encryption.Algorithm}, C_UnwrapKey + HMAC + C_WrapKey) + KPS {signName}", () =>
            {
                rewrapper.Rewrap(rewrap);
                sign();
            });
        }

        if (_handling.Mode != ReleaseKeyHandling.AllowMemory)
        {
            throw new InvalidOperationException($"release-key-handling {_handling.Describe()}: the service releases nothing, so a release has no token ceiling");
        }

        var decrypt = new DecryptRequest(encryption.Label, wrapping.WrappedKey.Value, unwrapHash);
        return new TokenWork($"{encryption.Algorithm} OAEP decrypt (re-wrap in memory) + KPS {signName}", () =>
        {
            CryptographicOperations.ZeroMemory(_store.Decrypt(decrypt));
            sign();
        });
    }

    /// <summary>
    /// An attestation as measured on the running service (<see cref="MeasuredTokenOps"/>): that many signatures by the
    /// attestation signer and row MACs (HMAC-SHA256 with the row-MAC key) per call, fractions spread evenly over the
    /// calls (0.02 row MACs: one call in fifty computes one). Other operations, if the service made any, are reported
    /// with the measurement, not run.
    /// </summary>
    public TokenWork Attestation(MeasuredTokenOps measured)
    {
        ArgumentNullException.ThrowIfNull(measured);
        var signer = KeyOf(_fixture.AttestationSignerCertificate, "attestation signer");
        var (signName, sign) = Signature(signer);
        var mac = _store.AsRecordAuthenticator() ?? throw new InvalidOperationException($"the {_store.Kind} key store computes no row MACs");
        // A host row's canonical encoding is a few hundred bytes (name, mode, public key, thumbprint, time).
        byte[] row = RandomNumberGenerator.GetBytes(256);
        long calls = 0;
        return new TokenWork($"{measured.Signatures:F3} × attestation signer {signName} + {measured.RowMacs:F3} × row MAC (HMAC-SHA256), as measured per attestation on the service", () =>
        {
            long call = Interlocked.Increment(ref calls) - 1;
            for (int i = Share(measured.Signatures, call); i > 0; i--)
            {
                sign();
            }

            for (int i = Share(measured.RowMacs, call); i > 0; i--)
            {
                mac.ComputeMac(KeyStoreRowAuthenticator.MacKeyLabel, row);
            }
        });
    }

    /// <summary>Operations call number <paramref name="call"/> makes so that the first n calls make ⌊n × perCall⌋ in all.</summary>
    private static int Share(double perCall, long call) => (int)(Math.Floor((call + 1) * perCall) - Math.Floor(call * perCall));

    /// <summary>Runs <paramref name="work"/> from <paramref name="threads"/> threads for <paramref name="duration"/>.</summary>
    public static TokenLoopResult Measure(TokenWork work, int threads, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(work);
        return TokenLoop.Run(threads, duration, work.Run);
    }

    /// <summary>The stored key whose public key is the certificate's.</summary>
    private StoredKey KeyOf(byte[] certificate, string role)
    {
        using var parsed = X509CertificateLoader.LoadCertificate(certificate);
        byte[] spki = parsed.PublicKey.ExportSubjectPublicKeyInfo();
        return _keys.SingleOrDefault(k => Canonical(k.SubjectPublicKeyInfo).AsSpan().SequenceEqual(spki))
            ?? throw new InvalidOperationException($"the key store holds no key for the {role} certificate");
    }

    private static byte[] Canonical(byte[] spki) => PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _).ExportSubjectPublicKeyInfo();

    /// <summary>The signature the service makes with <paramref name="key"/>: RS256 (PKCS#1) for RSA, ES256/ES384 by curve for EC.</summary>
    private (string Name, Action Sign) Signature(StoredKey key)
    {
        var (name, request) = KeySignature.For(key);
        return (name, () => _store.SignHash(request));
    }
}
