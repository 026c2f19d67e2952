using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using OpenHgs.Protocol.HealthCertificates;
using OpenHgs.Protocol.KeyProtection;
using OpenHgs.Protocol.Wire;
using OpenHgs.Service.Admin;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Keys;
using OpenHgs.Storage;

namespace OpenHgs.Service.KeyProtection;

/// <summary>
/// Key release (HGS key protection service). A release is answered only after, in order: the health
/// certificate validates (trusted attestation signer, validity window, deny date); the key protector's
/// signatures chain to its owner; it holds a wrapping for an enabled KPS encryption key; that wrapping
/// unwraps inside the key store and the transport key's HMAC over the payload verifies. The transport key
/// is then re-wrapped to the health certificate's key, an egress key protector is rolled with a fresh
/// transport key, and the audit record is committed — only then does anything leave. Every refusal is
/// audited too. Plaintext transport keys are zeroed as soon as they are no longer needed.
/// </summary>
public sealed partial class KeyReleaseService(
    IHgsDatabase database,
    FabricKeyManager keys,
    SettingsService settings,
    TimeProvider time,
    ILogger<KeyReleaseService> logger)
{
    public const int MaxKeyProtectorBytes = 256 * 1024;
    public const string HostWrapAlgorithm = "RSA-OAEP-256";
    private (FabricKeySnapshot Snapshot, HealthCertificateValidator Validator)? _validator;

    public async Task<ReleaseResponse> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        string subject = "unknown";
        var details = new List<(string, string?)>();
        try
        {
            var result = await ReleaseCoreAsync(request, details, s => subject = s, cancellationToken).ConfigureAwait(false);
            details.Add(("egressKeyProtectorSha256", Convert.ToHexStringLower(SHA256.HashData(result.EgressKeyProtector))));
            await AppendAsync(AuditOutcomes.Success, subject, null, details, cancellationToken).ConfigureAwait(false);
            LogReleased(logger, subject);
            return new ReleaseResponse(
                new WrappedKeyContract(HostWrapAlgorithm, Convert.ToBase64String(result.WrappedTransportKey)),
                Convert.ToBase64String(result.EgressKeyProtector));
        }
        catch (ServiceException refusal) when (refusal.Code != "AuditUnavailable")
        {
            await AppendAsync(AuditOutcomes.Refused, subject, refusal.Code, details, cancellationToken).ConfigureAwait(false);
            LogRefused(logger, subject, refusal.Code);
            throw;
        }
    }

    /// <summary>Audits a release request that could not even be read (malformed or oversized body).</summary>
    public Task AuditUnreadableAsync(string code, CancellationToken cancellationToken) =>
        AppendAsync(AuditOutcomes.Refused, "unknown", code, [], cancellationToken);

    private async Task<(byte[] WrappedTransportKey, byte[] EgressKeyProtector)> ReleaseCoreAsync(
        ReleaseRequest request, List<(string, string?)> details, Action<string> setSubject, CancellationToken cancellationToken)
    {
        byte[] certificateDer = DecodeBase64(request.HealthCertificate, "healthCertificate", 16 * 1024);
        byte[] protectorBytes = DecodeBase64(request.KeyProtector, "keyProtector", MaxKeyProtectorBytes);
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

        byte[] transportKey = Unwrap(encryptionKey, wrapping);
        byte[] freshKey = RandomNumberGenerator.GetBytes(32);
        try
        {
            Guard(() => KeyProtectorVerifier.VerifyTransportKey(protector, transportKey));
            using var hostKey = RSA.Create();
            hostKey.ImportSubjectPublicKeyInfo(health.HostEncryptionPublicKey, out _);
            byte[] wrapped = hostKey.Encrypt(transportKey, RSAEncryptionPadding.OaepSHA256);
            var egress = Guard(() => KeyProtectorBuilder.Roll(protector, freshKey, signingKey.Rsa, wrapping.Id));
            return (wrapped, egress.ToJson());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(transportKey);
            CryptographicOperations.ZeroMemory(freshKey);
        }
    }

    private ValidatedHealthCertificate ValidateHealthCertificate(byte[] der, FabricKeySnapshot snapshot, CurrentSettings current)
    {
        // The validator holds the signers' parsed keys: build it once per key snapshot, not per release.
        var cached = _validator;
        var validator = cached is { } c && ReferenceEquals(c.Snapshot, snapshot)
            ? c.Validator
            : new HealthCertificateValidator(snapshot.Enabled(FabricKeyRole.AttestationSigner).Select(k => k.Record.Certificate));
        _validator = (snapshot, validator);
        try
        {
            return validator.Validate(der, time.GetUtcNow(), current.DenyBefore);
        }
        catch (HealthCertificateException ex)
        {
            throw ServiceException.Forbidden("HealthCertificate" + ex.Error, ex.Message);
        }
    }

    private static KeyProtector ParseAndVerify(byte[] bytes) => Guard(() =>
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
        catch (Exception ex) when (ex is CryptographicException or OpenHgs.Crypto.KeyStoreOperationException)
        {
            throw ServiceException.Forbidden("KeyProtectorTransportKeyUnwrapFailed", "The transport key wrapped for this fabric does not unwrap with the KPS encryption key (altered wrapping).");
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

    private static byte[] DecodeBase64(string? text, string field, int maxBytes)
    {
        if (string.IsNullOrEmpty(text))
        {
            throw ServiceException.BadRequest("RequestMalformed", $"{field}: missing.");
        }

        if (text.Length > (maxBytes + 2) / 3 * 4)
        {
            throw new ServiceException(ProblemKind.PayloadTooLarge, "RequestTooLarge", $"{field}: larger than {maxBytes} bytes.");
        }

        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw ServiceException.BadRequest("RequestMalformed", $"{field}: not valid base64.");
        }
    }

    private async Task AppendAsync(string outcome, string subject, string? reason, List<(string, string?)> details, CancellationToken cancellationToken) =>
        await AuditRecord.AppendAloneAsync(database, AuditRecord.Create(AuditEvents.KeyRelease, outcome, subject, reason, [.. details]), cancellationToken).ConfigureAwait(false);

    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "Transport key released to host {Host}")]
    private static partial void LogReleased(ILogger logger, string host);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Key release refused for host {Host}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string host, string reason);
}
