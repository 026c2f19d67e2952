using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Keys;

namespace OpenHgs.Service.KeyProtection;

/// <summary>
/// Key release (HGS key protection service). A release is answered only after, in order: the health
/// certificate validates (trusted attestation signer, validity window, deny date); the key protector's
/// signatures chain to its owner (verified once per release); it holds a wrapping for an enabled KPS encryption key; that wrapping
/// unwraps inside the key store and the transport key's HMAC over the payload verifies. The transport key
/// is then re-wrapped to the health certificate's key, an egress key protector is rolled with a fresh
/// transport key (also wrapped to the health certificate's key when the host asks for it, so the VM can move
/// to it) and signed by the KPS signing key (RS256 or, with an EC P-256 key, ES256), and the audit record is committed — only then does anything leave. Every refusal is audited too
/// (refusal lane); a release that fails because the database or key store is unavailable leaves a record with
/// outcome error and the 503 code (<see cref="AuditWriter.RecordError"/>).
/// Plaintext transport keys are zeroed as soon as they are no longer needed. Where the VM's transport key may be
/// handled (only inside the HSM, or also in memory) is <see cref="TransportKeyHandling"/>'s to say.
/// </summary>
public sealed partial class KeyReleaseService(
    AuditWriter audit,
    FabricKeyManager keys,
    TransportKeyHandling handling,
    SettingsService settings,
    TimeProvider time,
    ILogger<KeyReleaseService> logger)
{
    public const int MaxKeyProtectorBytes = 256 * 1024;
    private SignerValidator? _validator;

    public async Task<ReleaseResponse> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        string subject = "unknown";
        string? refusedWith = null;
        var details = new List<(string, string?)>();
        try
        {
            ReleasedKey result;
            try
            {
                result = await ReleaseCoreAsync(request, details, s => subject = s, cancellationToken).ConfigureAwait(false);
            }
            catch (ServiceException refusal) when (AuditRecord.OutageCode(refusal) is null)
            {
                refusedWith = refusal.Code;
                await AppendAsync(AuditOutcomes.Refused, subject, refusal.Code, details, cancellationToken).ConfigureAwait(false);
                LogRefused(logger, subject, refusal.Code);
                throw;
            }

            details.Add(("egressKeyProtectorSha256", Convert.ToHexStringLower(SHA256.HashData(result.EgressKeyProtector))));
            details.Add(("egressTransportKey", result.WrappedEgressTransportKey is null ? "not-requested" : "released"));
            await AppendAsync(AuditOutcomes.Success, subject, null, details, cancellationToken).ConfigureAwait(false);
            LogReleased(logger, subject);
            return new ReleaseResponse(
                new WrappedKeyContract(result.Algorithm, Convert.ToBase64String(result.WrappedTransportKey)),
                Convert.ToBase64String(result.EgressKeyProtector),
                result.WrappedEgressTransportKey is { } egressKey ? new WrappedKeyContract(KeyProtectorAlgorithms.RsaOaep256, Convert.ToBase64String(egressKey)) : null);
        }
        catch (Exception failure) when (AuditRecord.OutageCode(failure) is { } code)
        {
            // The database or key store is away: nothing was released (a release whose record did not commit never
            // leaves). The attempt is still recorded, with the code the client gets, once the database takes it.
            if (refusedWith is not null)
            {
                details.Add(("refusal", refusedWith));
            }

            audit.RecordError(AuditRecord.Create(AuditEvents.KeyRelease, AuditOutcomes.Error, subject, code, [.. details]));
            throw;
        }
    }

    /// <summary>Audits a release request that could not even be read (malformed or oversized body).</summary>
    public Task AuditUnreadableAsync(string code, CancellationToken cancellationToken) =>
        AppendAsync(AuditOutcomes.Refused, "unknown", code, [], cancellationToken);

    private async Task<ReleasedKey> ReleaseCoreAsync(
        ReleaseRequest request, List<(string, string?)> details, Action<string> setSubject, CancellationToken cancellationToken)
    {
        byte[] certificateDer = RequestBase64.Decode(request.HealthCertificate, "healthCertificate", 16 * 1024, RequestFieldRefusals.Release);
        byte[] protectorBytes = RequestBase64.Decode(request.KeyProtector, "keyProtector", MaxKeyProtectorBytes, RequestFieldRefusals.Release);
        details.Add(("releaseKeyHandling", handling.Mode.ToName()));
        details.Add(("keyProtectorSha256", Convert.ToHexStringLower(SHA256.HashData(protectorBytes))));
        details.Add(("healthCertificateSha256", Convert.ToHexStringLower(SHA256.HashData(certificateDer))));

        var current = await settings.GetAsync(cancellationToken).ConfigureAwait(false);
        var snapshot = await keys.GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var health = ValidateHealthCertificate(certificateDer, snapshot, current);
        setSubject(health.Claims.HostName);
        details.Add(("healthCertificateSerial", health.SerialNumber));
        details.Add(("evidenceDigest", Convert.ToHexStringLower(health.Claims.EvidenceDigest)));
        details.Add(("policyVersion", health.Claims.PolicyVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var protector = ParseAndVerify(protectorBytes);
        var (wrapping, encryptionKey) = FindFabricWrapping(protector, snapshot);
        details.Add(("wrappingId", wrapping.Id));
        details.Add(("kpsEncryptionKey", encryptionKey.Id));

        var signingKey = snapshot.FindByCertificate(FabricKeyRole.Signing, wrapping.SigningCertificate)
            ?? throw ServiceException.Unavailable("KpsSigningKeyMissing", "The KPS signing key named in the key protector is no longer configured, so the key protector cannot be rolled.");
        details.Add(("kpsSigningKey", signingKey.Id));

        var (algorithm, wrapped) = RewrapTransportKey(encryptionKey, wrapping, protector, health.HostEncryptionPublicKey, details);

        // The rolled key protector's transport key is new: it is generated here and zeroed after wrapping. The host
        // gets it too (when it asks): only a VM re-sealed with it stops opening with the key revoked guardians knew.
        byte[] freshKey = RandomNumberGenerator.GetBytes(32);
        try
        {
            // RS256 with an RSA KPS signing key, ES256 with an EC P-256 one. The protector was verified once above; Roll
            // does not verify it again, and of what it made checks only its own new signature.
            var egress = Guard(() => KeyProtectorBuilder.Roll(protector, freshKey, signingKey.Key, wrapping.Id));
            byte[]? egressWrapped = request.IncludeEgressTransportKey ? WrapToHost(health.HostEncryptionPublicKey, freshKey) : null;
            return new ReleasedKey(algorithm, wrapped, egress.ToJson(), egressWrapped);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(freshKey);
        }
    }

    /// <summary>
    /// Re-wraps the VM's transport key to the host: inside the HSM when it can; in memory only under
    /// <see cref="ReleaseKeyHandling.AllowMemory"/>. Records which in <paramref name="details"/> (<c>transportKeyHandling</c>).
    /// </summary>
    private (string Algorithm, byte[] Wrapped) RewrapTransportKey(
        FabricKey encryptionKey, KeyProtectorWrapping wrapping, KeyProtector protector, byte[] hostKey, List<(string, string?)> details)
    {
        bool allowMemory = handling.Mode == ReleaseKeyHandling.AllowMemory;
        if (handling.NativeHashes(KeyProtectorAlgorithms.GetOaepHash(wrapping.WrappedKey.Algorithm)) is not { } hashes)
        {
            details.Add(("transportKeyHandling", allowMemory ? "memory" : "refused"));
            return allowMemory
                ? RewrapInMemory(encryptionKey, wrapping, protector, hostKey)
                : throw ServiceException.Unavailable("TransportKeyHsmOnly",
                    $"release-key-handling is hsm-only, and the key store cannot re-wrap a {wrapping.WrappedKey.Algorithm} transport key inside the HSM; this node releases nothing in memory.");
        }

        try
        {
            var result = RewrapInStore(handling.Rewrapper!, encryptionKey, wrapping, protector, hostKey, hashes.Unwrap, hashes.Target);
            details.Add(("transportKeyHandling", "hsm-native"));
            return result;
        }
        catch (KeyStoreOperationException ex)
        {
            LogNativeRewrapRefused(logger, encryptionKey.Id, ex.Message, handling.Mode.ToName());
            details.Add(("transportKeyHandling", allowMemory ? "memory-after-native-refusal" : "refused"));
            return allowMemory
                ? RewrapInMemory(encryptionKey, wrapping, protector, hostKey)
                : throw ServiceException.Forbidden("TransportKeyRewrapRefused",
                    "The key store refused to re-wrap the transport key inside the HSM (a wrapping that does not unwrap with the KPS encryption key, or a token fault); release-key-handling is hsm-only, so it is not tried in memory.");
        }
    }

    /// <summary>HSM-native: the VM's transport key never exists in this process; the token checks its MAC and wraps it to the host.</summary>
    /// <exception cref="KeyStoreOperationException">The store refused the re-wrap (for SoftHSM2: the wrapped key does not unwrap).</exception>
    private static (string Algorithm, byte[] Wrapped) RewrapInStore(
        ITransportKeyRewrapper rewrapper, FabricKey encryptionKey, KeyProtectorWrapping wrapping, KeyProtector protector, byte[] hostKey, OaepHash unwrap, OaepHash target)
    {
        RewrapResult result = rewrapper.Rewrap(RewrapRequestFor(encryptionKey.Record.Label, wrapping, protector, hostKey, (unwrap, target)));

        if (!CryptographicOperations.FixedTimeEquals(result.Mac, protector.TransportKeySignature.Value))
        {
            throw ServiceException.Forbidden("KeyProtector" + nameof(KeyProtectorError.TransportKeySignatureInvalid), "The transport key's HMAC over the key protector payload does not verify.");
        }

        return (target == OaepHash.Sha256 ? KeyProtectorAlgorithms.RsaOaep256 : KeyProtectorAlgorithms.RsaOaep, result.Rewrapped);
    }

    /// <summary>
    /// The HSM-native re-wrap a release asks of the key store: unwrap <paramref name="wrapping"/>'s transport key with the
    /// KPS encryption key labelled <paramref name="encryptionKeyLabel"/>, HMAC the protector's payload with it, wrap it to
    /// <paramref name="hostKey"/> (the hashes are <see cref="TransportKeyHandling.NativeHashes"/>'s). Public so the bench
    /// times exactly this request.
    /// </summary>
    public static RewrapRequest RewrapRequestFor(string encryptionKeyLabel, KeyProtectorWrapping wrapping, KeyProtector protector, byte[] hostKey, (OaepHash Unwrap, OaepHash Target) hashes)
    {
        ArgumentNullException.ThrowIfNull(wrapping);
        ArgumentNullException.ThrowIfNull(protector);
        return new RewrapRequest(encryptionKeyLabel, wrapping.WrappedKey.Value, hashes.Unwrap, protector.Payload.ToArray(), hostKey, hashes.Target);
    }

    /// <summary>Fallback where the token cannot re-wrap: unwrap into memory, check, wrap to the host, zero.</summary>
    private static (string Algorithm, byte[] Wrapped) RewrapInMemory(FabricKey encryptionKey, KeyProtectorWrapping wrapping, KeyProtector protector, byte[] hostKey)
    {
        byte[] transportKey = Unwrap(encryptionKey, wrapping);
        try
        {
            Guard(() => KeyProtectorVerifier.VerifyTransportKey(protector, transportKey));
            using var host = PublicKeyPool.Shared.Lease(hostKey);
            return (KeyProtectorAlgorithms.RsaOaep256, host.Rsa.Encrypt(transportKey, RSAEncryptionPadding.OaepSHA256));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(transportKey);
        }
    }

    /// <summary>The egress transport key wrapped to the health certificate's key (RSA-OAEP-256; made in memory, see design change 9).</summary>
    private static byte[] WrapToHost(byte[] hostKey, byte[] key)
    {
        using var host = PublicKeyPool.Shared.Lease(hostKey); // the same host releases many times: import once
        return host.Rsa.Encrypt(key, RSAEncryptionPadding.OaepSHA256);
    }

    private static ServiceException UnwrapFailed() =>
        ServiceException.Forbidden("KeyProtectorTransportKeyUnwrapFailed", "The transport key wrapped for this fabric does not unwrap with the KPS encryption key (altered wrapping).");

    private ValidatedHealthCertificate ValidateHealthCertificate(byte[] der, FabricKeySnapshot snapshot, CurrentSettings current)
    {
        // The validator holds the signers' parsed keys: build it once per key snapshot, not per release.
        // Snapshot and validator are one immutable holder swapped whole, so a validator is never paired with (and
        // reused for) a snapshot other than the one whose enabled signers it was built from.
        var cached = Volatile.Read(ref _validator);
        HealthCertificateValidator validator;
        if (cached is not null && ReferenceEquals(cached.Snapshot, snapshot))
        {
            validator = cached.Validator;
        }
        else
        {
            validator = new HealthCertificateValidator(snapshot.Enabled(FabricKeyRole.AttestationSigner).Select(k => k.Record.Certificate));
            Volatile.Write(ref _validator, new SignerValidator(snapshot, validator));
        }

        ValidatedHealthCertificate validated;
        try
        {
            validated = validator.Validate(der, time.GetUtcNow(), current.DenyBefore);
        }
        catch (HealthCertificateException ex)
        {
            throw ServiceException.Forbidden("HealthCertificate" + ex.Error, ex.Message);
        }

        // A switch to TPM mode means host-key attestation is no longer trusted: its certificates stop releasing keys
        // at once (and the other way round), not when they expire.
        if (validated.Claims.Mode != current.Mode)
        {
            throw ServiceException.Forbidden("HealthCertificateModeMismatch",
                $"The health certificate was issued in {AttestationModeNames.Of(validated.Claims.Mode)} mode; the service attests in {AttestationModeNames.Of(current.Mode)} mode now.");
        }

        return validated;
    }

    /// <summary>Parses the key protector and verifies its signatures once (a refusal is a 403 naming the key protector error). Public so the bench times it.</summary>
    public static KeyProtector ParseAndVerify(byte[] bytes) => Guard(() =>
    {
        var protector = KeyProtector.Parse(bytes);
        KeyProtectorVerifier.VerifySignatures(protector);
        return protector;
    });

    private static (KeyProtectorWrapping Wrapping, FabricKey Key) FindFabricWrapping(KeyProtector protector, FabricKeySnapshot snapshot)
    {
        bool disabledMatch = false;
        foreach (var key in snapshot.OfRole(FabricKeyRole.Encryption))
        {
            var wrapping = protector.FindWrappingForEncryptionCertificate(key.Record.Certificate);
            if (wrapping is null)
            {
                continue;
            }

            if (key.Record.Enabled)
            {
                return (wrapping, key);
            }

            disabledMatch = true;
        }

        throw disabledMatch
            ? ServiceException.Forbidden("KpsKeyDisabled", "The key protector is granted to this fabric only through a KPS encryption key that is disabled.")
            : ServiceException.Forbidden("NotGrantedToFabric", "The key protector has no wrapping for any KPS encryption key of this fabric (not granted, or revoked).");
    }

    private static byte[] Unwrap(FabricKey key, KeyProtectorWrapping wrapping)
    {
        // Parsing already refused unknown algorithms.
        var padding = KeyProtectorAlgorithms.GetPadding(wrapping.WrappedKey.Algorithm);
        try
        {
            return key.Rsa.Decrypt(wrapping.WrappedKey.Value, padding);
        }
        catch (Exception ex) when (ex is CryptographicException or KeyStoreOperationException)
        {
            throw UnwrapFailed();
        }
    }

    private static T Guard<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (KeyProtectorException ex)
        {
            throw ServiceException.Forbidden("KeyProtector" + ex.Error, ex.Message);
        }
    }

    private static void Guard(Action action) => Guard(() =>
    {
        action();
        return 0;
    });

    private async Task AppendAsync(string outcome, string subject, string? reason, List<(string, string?)> details, CancellationToken cancellationToken) =>
        await audit.AppendAsync(AuditRecord.Create(AuditEvents.KeyRelease, outcome, subject, reason, [.. details]), cancellationToken).ConfigureAwait(false);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "HSM-native re-wrap with KPS key {KeyId} was refused ({Reason}); release-key-handling {Mode}: allow-memory decides in memory, hsm-only refuses")]
    private static partial void LogNativeRewrapRefused(ILogger logger, string keyId, string reason, string mode);

    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "Transport key released to host {Host}")]
    private static partial void LogReleased(ILogger logger, string host);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Key release refused for host {Host}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string host, string reason);

    private sealed record ReleasedKey(string Algorithm, byte[] WrappedTransportKey, byte[] EgressKeyProtector, byte[]? WrappedEgressTransportKey);
}

/// <summary>The health-certificate validator built from one key snapshot's enabled attestation signers.</summary>
internal sealed record SignerValidator(FabricKeySnapshot Snapshot, HealthCertificateValidator Validator);
