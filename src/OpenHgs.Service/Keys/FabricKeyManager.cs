using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using OpenHgs.Crypto;
using OpenHgs.Protocol.Guardians;
using OpenHgs.Service.Audit;
using OpenHgs.Service.Integrity;
using OpenHgs.Storage;

namespace OpenHgs.Service.Keys;

/// <summary>
/// The fabric's keys (HGS Add/Set/Remove-HgsKeyProtectionCertificate): generates them inside the key store,
/// issues their certificates, keeps one primary per role, enables, disables and removes them, and exports
/// the fabric guardian. Reads come from a snapshot refreshed every few seconds (and at once after a local
/// change), so the release path does not query the database for keys. New KPS signing keys are of the type
/// <paramref name="options"/> names (EC P-256 unless told otherwise); encryption keys are always RSA (they wrap).
/// </summary>
/// <remarks>A key the custody gate blocks (design change 79) is left out of the snapshot as <see cref="FabricKeyRejection.CustodyFailed"/>.</remarks>
public sealed partial class FabricKeyManager(IKeyStore store, IHgsDatabase database, TimeProvider time, ILogger<FabricKeyManager> logger, FabricKeyOptions? options = null,
    KeyCustodyGate? custody = null)
{
    private readonly FabricKeyOptions _options = Validated(options ?? FabricKeyOptions.Default);

    private static readonly TimeSpan SnapshotLifetime = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private CachedSnapshot? _cached;
    private long _generation;

    public IKeyStore Store => store;

    public async Task<FabricKeySnapshot> GetSnapshotAsync(CancellationToken cancellationToken)
    {
        if (Fresh(Volatile.Read(ref _cached)) is { } cached)
        {
            return cached;
        }

        await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var previous = Volatile.Read(ref _cached);
            if (Fresh(previous) is { } again)
            {
                return again;
            }

            // Read the generation before the rows: a change committed (and invalidated) while they are read leaves
            // this snapshot already stale, so the next call reloads instead of trusting a key that was just disabled.
            long generation = Interlocked.Read(ref _generation);
            long custodyGeneration = custody?.Generation ?? 0;
            var rows = await database.ReadSnapshotAsync(s => s.FabricKeys.ListAsync(), cancellationToken).ConfigureAwait(false);
            var snapshot = Load(rows);
            if (!SameRejections(previous?.Snapshot, snapshot))
            {
                foreach (var rejected in snapshot.Rejected)
                {
                    LogKeyRejected(logger, rejected.Id, rejected.Reason, RemedyFor(rejected.Reason));
                }
            }

            Volatile.Write(ref _cached, new CachedSnapshot(snapshot, time.GetUtcNow(), generation, custodyGeneration));
            return snapshot;
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>Creates the first key of every role (primary), if the fabric has none yet.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var snapshot = await GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        foreach (var role in new[] { FabricKeyRole.Signing, FabricKeyRole.Encryption, FabricKeyRole.AttestationSigner })
        {
            if (!snapshot.OfRole(role).Any())
            {
                await AddAsync(role, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Generates a key of <paramref name="role"/> in the store; it becomes primary when the role has none.</summary>
    public async Task<FabricKeyRecord> AddAsync(FabricKeyRole role, CancellationToken cancellationToken)
    {
        var snapshot = await GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        string id = $"{Prefix(role)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        string label = "openhgs-" + id;
        var now = time.GetUtcNow();
        var algorithm = role switch
        {
            FabricKeyRole.AttestationSigner => KeyAlgorithm.EcP256,
            FabricKeyRole.Signing => _options.KpsSigningKeyAlgorithm,
            _ => KeyAlgorithm.Rsa2048,
        };
        var usage = role == FabricKeyRole.Encryption ? KeyUsage.Decrypt : KeyUsage.Sign;
        var stored = store.CreateKey(new CreateKeyRequest(label, algorithm, usage));
        byte[] certificate;
        try
        {
            certificate = IssueCertificate(role, id, stored, snapshot, now);
        }
        catch
        {
            store.DeleteKey(label);
            throw;
        }

        bool primary = !snapshot.OfRole(role).Any(k => k.Record.IsPrimary && k.Record.Enabled);
        var record = new FabricKeyRecord(id, role.ToName(), label, algorithm.ToString(), certificate, primary, true, now);
        try
        {
            await database.InTransactionAsync(async s =>
            {
                await s.FabricKeys.AddAsync(record).ConfigureAwait(false);
                if (primary)
                {
                    await s.FabricKeys.SetPrimaryAsync(id, record.Role).ConfigureAwait(false);
                }

                return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.KeyAdded, AuditOutcomes.Success, id, null,
                    ("role", record.Role), ("label", label), ("algorithm", record.Algorithm), ("primary", primary.ToString()),
                    ("thumbprint", Convert.ToHexStringLower(SHA256.HashData(certificate))))).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // No configuration row, no key: an HSM object nobody references would only confuse the next audit.
            store.DeleteKey(label);
            throw;
        }

        Invalidate();
        LogKeyAdded(logger, id, record.Role, primary);
        return record;
    }

    public Task SetPrimaryAsync(string id, CancellationToken cancellationToken) =>
        ChangeAsync(id, AuditEvents.KeyPrimarySet, async (s, key) =>
        {
            if (!key.Enabled)
            {
                throw ServiceException.Conflict("KeyDisabled", $"Key '{id}' is disabled; enable it before making it primary.");
            }

            await s.FabricKeys.SetPrimaryAsync(id, key.Role).ConfigureAwait(false);
        }, cancellationToken);

    public Task SetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken) =>
        ChangeAsync(id, enabled ? AuditEvents.KeyEnabled : AuditEvents.KeyDisabled, async (s, key) =>
        {
            if (!enabled && key.IsPrimary)
            {
                throw ServiceException.Conflict("KeyIsPrimary", $"Key '{id}' is the primary {key.Role} key; make another key primary first.");
            }

            await s.FabricKeys.SetEnabledAsync(id, enabled).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>
    /// Removes a key from the configuration. The key store object is kept: destroying it is an HSM officer's decision.
    /// A row that fails its integrity check is never used, and removing it is the remedy, so it can always be removed.
    /// </summary>
    public async Task RemoveAsync(string id, CancellationToken cancellationToken)
    {
        await database.InTransactionAsync(async s =>
        {
            var key = await RemovableRow.FindAsync(() => s.FabricKeys.FindAsync(id),
                () => ServiceException.NotFound("UnknownKey", $"There is no fabric key '{id}' (see 'hgs keys list').")).ConfigureAwait(false);

            if (key is { IsPrimary: true })
            {
                throw ServiceException.Conflict("KeyIsPrimary", $"Key '{id}' is the primary {key.Role} key; make another key primary first.");
            }

            await s.FabricKeys.RemoveAsync(id).ConfigureAwait(false);
            return await s.Audit.AppendAsync(AuditRecord.Create(AuditEvents.KeyRemoved, AuditOutcomes.Success, id, key is null ? nameof(FabricKeyRejection.RowIntegrity) : null,
                ("role", key?.Role))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        Invalidate();
        LogKeyChanged(logger, id, AuditEvents.KeyRemoved);
    }

    /// <summary>The fabric guardian: the primary encryption certificate and the signing certificate that issued it.</summary>
    public async Task<GuardianMetadata> ExportGuardianAsync(string fabricName, CancellationToken cancellationToken)
    {
        var snapshot = await GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
        var encryption = snapshot.Primary(FabricKeyRole.Encryption);
        var signing = IssuerOf(encryption, snapshot)
            ?? throw ServiceException.Unavailable("GuardianIncomplete", $"The signing key that issued encryption key '{encryption.Id}' is no longer configured.");
        string[] algorithms = store.Capabilities.OaepSha256 ? ["RSA-OAEP-256", "RSA-OAEP"] : ["RSA-OAEP"];
        return new GuardianMetadata(fabricName, signing.Record.Certificate, encryption.Record.Certificate, algorithms);
    }

    /// <summary>The configured signing key whose certificate issued <paramref name="encryptionKey"/>'s certificate.</summary>
    public static FabricKey? IssuerOf(FabricKey encryptionKey, FabricKeySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(encryptionKey);
        ArgumentNullException.ThrowIfNull(snapshot);
        var authority = encryptionKey.Certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().FirstOrDefault()?.KeyIdentifier;
        return snapshot.OfRole(FabricKeyRole.Signing).FirstOrDefault(s =>
            s.Certificate.SubjectName.RawData.AsSpan().SequenceEqual(encryptionKey.Certificate.IssuerName.RawData)
            && authority is { } aki
            && s.Certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault()?.SubjectKeyIdentifierBytes.Span.SequenceEqual(aki.Span) == true);
    }

    /// <summary>Drops the snapshot; one being loaded concurrently (from rows read before the change) is not used either.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        Volatile.Write(ref _cached, null);
    }

    private FabricKeySnapshot? Fresh(CachedSnapshot? cached) =>
        cached is not null && cached.Generation == Interlocked.Read(ref _generation) && cached.CustodyGeneration == (custody?.Generation ?? 0)
        && time.GetUtcNow() - cached.LoadedAt < SnapshotLifetime
            ? cached.Snapshot
            : null;

    /// <summary>A loaded snapshot, when, and under which invalidation and custody generations: swapped whole, never torn.</summary>
    private sealed record CachedSnapshot(FabricKeySnapshot Snapshot, DateTimeOffset LoadedAt, long Generation, long CustodyGeneration);

    /// <summary>Keeps only rows whose MAC verifies and whose key the store holds with the certificate's public key.</summary>
    private FabricKeySnapshot Load(RowSet<FabricKeyRecord> rows)
    {
        var keys = new List<FabricKey>();
        var rejected = rows.Rejected.Select(r => new RejectedFabricKey(r.Key, FabricKeyRejection.RowIntegrity)).ToList();
        foreach (var record in rows.Rows)
        {
            if (custody?.Blocks(record.Label) == true)
            {
                rejected.Add(new RejectedFabricKey(record.Id, FabricKeyRejection.CustodyFailed));
            }
            else if (FabricKey.TryLoad(record, store, out var why) is { } key)
            {
                keys.Add(key);
            }
            else
            {
                rejected.Add(new RejectedFabricKey(record.Id, why!.Value));
            }
        }

        return new FabricKeySnapshot(keys, rejected);
    }

    // Logged when the set of ignored rows changes, not at every 5-second refresh.
    private static bool SameRejections(FabricKeySnapshot? previous, FabricKeySnapshot current) =>
        previous is not null && previous.Rejected.SequenceEqual(current.Rejected);

    private byte[] IssueCertificate(FabricKeyRole role, string id, StoredKey stored, FabricKeySnapshot snapshot, DateTimeOffset now)
    {
        switch (role)
        {
            case FabricKeyRole.Encryption:
                var signer = snapshot.Primary(FabricKeyRole.Signing);
                using (var encryptionKey = new KeyStoreRsa(store, stored))
                {
                    return FabricCertificates.IssueEncryption($"OpenHGS KPS encryption {id}", encryptionKey, signer.Certificate, signer.Key, now);
                }

            case FabricKeyRole.Signing:
                using (AsymmetricAlgorithm signingKey = stored.Algorithm.IsRsa() ? new KeyStoreRsa(store, stored) : new KeyStoreECDsa(store, stored))
                {
                    return FabricCertificates.IssueSelfSigned($"OpenHGS KPS signing {id}", signingKey, now);
                }

            default:
                using (var attestationKey = new KeyStoreECDsa(store, stored))
                {
                    return FabricCertificates.IssueSelfSigned($"OpenHGS attestation signer {id}", attestationKey, now);
                }
        }
    }

    private async Task ChangeAsync(string id, string auditEvent, Func<HgsSession, FabricKeyRecord, Task> change, CancellationToken cancellationToken)
    {
        await database.InTransactionAsync(async s =>
        {
            FabricKeyRecord? key;
            try
            {
                key = await s.FabricKeys.FindAsync(id).ConfigureAwait(false);
            }
            catch (RowIntegrityException)
            {
                throw ServiceException.Conflict("FabricKeyIntegrity", $"Fabric key row '{id}' fails its integrity check and is ignored; remove it with 'hgs keys remove {id}'.");
            }

            await change(s, key ?? throw ServiceException.NotFound("UnknownKey", $"There is no fabric key '{id}' (see 'hgs keys list').")).ConfigureAwait(false);
            return await s.Audit.AppendAsync(AuditRecord.Create(auditEvent, AuditOutcomes.Success, id, null, ("role", key.Role))).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        Invalidate();
        LogKeyChanged(logger, id, auditEvent);
    }

    private static FabricKeyOptions Validated(FabricKeyOptions options)
    {
        // Throws for a type that cannot sign key protectors (EC P-384 and anything else).
        _ = KpsSigningKeyAlgorithms.ToName(options.KpsSigningKeyAlgorithm);
        return options;
    }

    private static string Prefix(FabricKeyRole role) => role switch
    {
        FabricKeyRole.Encryption => "enc",
        FabricKeyRole.Signing => "sig",
        _ => "att",
    };

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Fabric key {KeyId} added with role {Role} (primary: {Primary})")]
    private static partial void LogKeyAdded(ILogger logger, string keyId, string role, bool primary);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Fabric key {KeyId} changed: {Change}")]
    private static partial void LogKeyChanged(ILogger logger, string keyId, string change);

    /// <summary>What the admin does about an ignored key: a custody refusal is about the token's object, not the row.</summary>
    private static string RemedyFor(FabricKeyRejection reason) => reason == FabricKeyRejection.CustodyFailed
        ? "'hgs keys custody' names the finding; remove the offending object from the token, or rotate the key (docs/key-rotation.md)"
        : "Investigate who wrote it, then remove it with 'hgs keys remove'";

    [LoggerMessage(EventId = 1102, Level = LogLevel.Critical, Message = "Fabric key row {KeyId} is ignored ({Reason}): it is never used for validation, signing or decryption. {Remedy}.")]
    private static partial void LogKeyRejected(ILogger logger, string keyId, FabricKeyRejection reason, string remedy);
}
