using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>A TPM manufacturer root (or intermediate) certificate that EK certificates may chain to.</summary>
public sealed record TpmRootRecord(string Thumbprint, string Subject, byte[] Certificate, DateTimeOffset AddedAt);

/// <summary>An attestation key activated (TPM2_ActivateCredential) for the EK of a registered TPM host.</summary>
public sealed record AttestationKeyRecord(string HostName, byte[] AkPublic, DateTimeOffset ActivatedAt);

/// <summary>An outstanding AK activation: the hash of the credential made for (host EK, AK Name).</summary>
public sealed record ActivationRecord(string SecretHash, string HostName, byte[] AkPublic, DateTimeOffset ExpiresAt);

/// <summary>TPM enrolment state: manufacturer roots, activated attestation keys, outstanding activations.</summary>
public sealed class TpmTable
{
    private readonly CommandFactory _db;

    internal TpmTable(CommandFactory db) => _db = db;

    public Task<List<TpmRootRecord>> ListRootsAsync() =>
        _db.QueryAsync("SELECT thumbprint, subject, certificate, added_at FROM tpm_roots ORDER BY subject", MapRoot);

    /// <summary>Removes a root by its thumbprint; false when there is none.</summary>
    public async Task<bool> RemoveRootAsync(string thumbprint) =>
        await _db.ExecuteAsync("DELETE FROM tpm_roots WHERE thumbprint = @t", ("@t", thumbprint)).ConfigureAwait(false) > 0;

    /// <summary>Adds a root; false when one with the same thumbprint exists.</summary>
    public async Task<bool> AddRootAsync(TpmRootRecord root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return await _db.ExecuteAsync(
            "INSERT INTO tpm_roots (thumbprint, subject, certificate, added_at) VALUES (@t, @s, @c, @a) ON CONFLICT (thumbprint) DO NOTHING",
            ("@t", root.Thumbprint), ("@s", root.Subject), ("@c", root.Certificate), ("@a", CommandFactory.ToUnixMs(root.AddedAt))).ConfigureAwait(false) > 0;
    }

    public async Task<AttestationKeyRecord?> FindAttestationKeyAsync(string hostName) =>
        (await _db.QueryAsync("SELECT host_name, ak_public, activated_at FROM tpm_attestation_keys WHERE host_name = @h",
            r => new AttestationKeyRecord(r.GetString(0), (byte[])r.GetValue(1), CommandFactory.FromUnixMs(r.GetInt64(2))), ("@h", hostName)).ConfigureAwait(false)).SingleOrDefault();

    /// <summary>Records (or replaces) the host's activated AK.</summary>
    public Task SetAttestationKeyAsync(AttestationKeyRecord key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _db.ExecuteAsync(
            "INSERT INTO tpm_attestation_keys (host_name, ak_public, activated_at) VALUES (@h, @k, @a) ON CONFLICT (host_name) DO UPDATE SET ak_public = excluded.ak_public, activated_at = excluded.activated_at",
            ("@h", key.HostName), ("@k", key.AkPublic), ("@a", CommandFactory.ToUnixMs(key.ActivatedAt)));
    }

    public Task RemoveHostAsync(string hostName) =>
        _db.ExecuteAsync("DELETE FROM tpm_attestation_keys WHERE host_name = @h; DELETE FROM tpm_activations WHERE host_name = @h", ("@h", hostName));

    public Task AddActivationAsync(ActivationRecord activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        return _db.ExecuteAsync(
            "INSERT INTO tpm_activations (secret_hash, host_name, ak_public, expires_at) VALUES (@s, @h, @k, @e)",
            ("@s", activation.SecretHash), ("@h", activation.HostName), ("@k", activation.AkPublic), ("@e", CommandFactory.ToUnixMs(activation.ExpiresAt)));
    }

    /// <summary>Deletes and returns the activation whose credential hashes to <paramref name="secretHash"/> (single use), or null.</summary>
    public async Task<ActivationRecord?> ConsumeActivationAsync(string secretHash) =>
        (await _db.QueryAsync("DELETE FROM tpm_activations WHERE secret_hash = @s RETURNING secret_hash, host_name, ak_public, expires_at",
            r => new ActivationRecord(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), CommandFactory.FromUnixMs(r.GetInt64(3))), ("@s", secretHash)).ConfigureAwait(false)).SingleOrDefault();

    private static TpmRootRecord MapRoot(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), CommandFactory.FromUnixMs(r.GetInt64(3)));
}
