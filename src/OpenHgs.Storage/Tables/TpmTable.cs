using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>A TPM manufacturer root (or intermediate) certificate that EK certificates may chain to.</summary>
public sealed record TpmRootRecord(string Thumbprint, string Subject, byte[] Certificate, DateTimeOffset AddedAt);

/// <summary>An attestation key activated (TPM2_ActivateCredential) for the EK of a registered TPM host.</summary>
public sealed record AttestationKeyRecord(string HostName, byte[] AkPublic, DateTimeOffset ActivatedAt);

/// <summary>
/// TPM enrolment state: manufacturer roots and activated attestation keys (outstanding activations are stateless since
/// design change 74; migration 10 dropped the <c>tpm_activations</c> table of older releases). Every row carries a MAC over
/// all its columns: roots that fail it are reported and never trusted; an AK that fails it throws
/// <see cref="RowIntegrityException"/>. Roots and AKs must also be what the audit trail last said about them
/// (<see cref="AdminRecordHistory"/>): a root removed since, or an AK a later activation or removal replaced, is an
/// older copy put back and is refused the same way.
/// </summary>
public sealed class TpmTable
{
    /// <summary>The audit subject of a root's records: this prefix and the root's thumbprint.</summary>
    public const string RootSubjectPrefix = "tpm-root:";

    internal const string RootsTable = "tpm_roots";
    internal const string KeysTable = "tpm_attestation_keys";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly SqlDialect _dialect;
    private readonly AdminRecordHistory _history;

    internal TpmTable(CommandFactory db, RowMac mac, SqlDialect dialect, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _dialect = dialect;
        _history = history;
    }

    public async Task<RowSet<TpmRootRecord>> ListRootsAsync()
    {
        var rows = await _db.QueryAsync("SELECT thumbprint, subject, certificate, added_at, mac FROM tpm_roots ORDER BY subject, thumbprint", MapRoot).ConfigureAwait(false);
        var history = await _history.AllAsync(RootSubjectPrefix, AdminRecordEvents.SettingChanged).ConfigureAwait(false);
        return RowMac.Partition(rows, VerifiesRoot, RootsTable, r => r.Thumbprint, r => RootSupersededBy(history[RootSubjectPrefix + r.Thumbprint]));
    }

    /// <summary>Every host's activated AK whose row verifies and is current, and the hosts whose AK row is not (for the integrity report).</summary>
    public async Task<RowSet<AttestationKeyRecord>> ListAttestationKeysAsync()
    {
        var rows = await _db.QueryAsync("SELECT host_name, ak_public, activated_at, mac FROM tpm_attestation_keys ORDER BY host_name", MapKey).ConfigureAwait(false);
        var history = await _history.AllAsync(string.Empty, AdminRecordEvents.HostAdded, AdminRecordEvents.HostRemoved).ConfigureAwait(false);
        return RowMac.Partition(rows, VerifiesKey, KeysTable, k => k.HostName, k => KeySupersededBy(k, history[k.HostName]));
    }

    /// <summary>The removal recorded after the root was added, or null: a root is added once under its thumbprint, so its newest record decides.</summary>
    internal static long? RootSupersededBy(IEnumerable<AdminRecord> newestFirst) =>
        AdminRecordHistory.SupersededBy(newestFirst, record => record.Detail("removed") == "true" ? RecordBearing.Replaced : RecordBearing.ThisRow);

    /// <summary>
    /// The record that replaced the host's attestation key since this one was activated, or null: the host's removal,
    /// its registration (<c>keyThumbprint</c>: an AK is activated after its host is registered, so a registration newer
    /// than the activation means the key belongs to an earlier registration), or an activation naming another key
    /// (<c>akPublicSha256</c>). An activation recorded by a release from before this check names the key only by its TPM
    /// Name and is taken as this key (it cannot be told apart here).
    /// </summary>
    internal static long? KeySupersededBy(AttestationKeyRecord key, IEnumerable<AdminRecord> newestFirst)
    {
        string digest = AkPublicDigest(key.AkPublic);
        return AdminRecordHistory.SupersededBy(newestFirst, record =>
            record.Event == AdminRecordEvents.HostRemoved ? RecordBearing.Replaced
            : record.Event == AdminRecordEvents.HostEkCertificateSet ? RecordBearing.Silent   // the same registration: its AK stays
            : record.Detail("akName") is null ? (record.Detail("keyThumbprint") is null ? RecordBearing.Silent : RecordBearing.Replaced)
            : record.Detail("akPublicSha256") is null ? RecordBearing.ThisRow
            : AdminRecordHistory.Names(record, "akPublicSha256", digest));
    }

    /// <summary>How an activation's audit record names the key (<c>akPublicSha256</c>): the SHA-256 of its TPMT_PUBLIC, in lower-case hex.</summary>
    public static string AkPublicDigest(byte[] akPublic) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(akPublic));

    /// <summary>Removes a root by its thumbprint; false when there is none.</summary>
    public async Task<bool> RemoveRootAsync(string thumbprint) =>
        await _db.ExecuteAsync("DELETE FROM tpm_roots WHERE thumbprint = @t", ("@t", thumbprint)).ConfigureAwait(false) > 0;

    /// <summary>Adds a root; false when one with the same thumbprint exists.</summary>
    public async Task<bool> AddRootAsync(TpmRootRecord root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return await _db.ExecuteAsync(
            "INSERT INTO tpm_roots (thumbprint, subject, certificate, added_at, mac) VALUES (@t, @s, @c, @a, @m) ON CONFLICT (thumbprint) DO NOTHING",
            ("@t", root.Thumbprint), ("@s", root.Subject), ("@c", root.Certificate), ("@a", CommandFactory.ToUnixMs(root.AddedAt)), ("@m", SealRoot(root))).ConfigureAwait(false) > 0;
    }

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    /// <param name="lockRow">Locks the row for the rest of the write transaction (PostgreSQL; SQLite's writer lock already does).</param>
    public async Task<AttestationKeyRecord?> FindAttestationKeyAsync(string hostName, bool lockRow = false) =>
        await FindKeyAsync(hostName, lockRow, null).ConfigureAwait(false);

    /// <summary>
    /// The attestation key of a host just found, judged by the admin records <paramref name="host"/> was judged by
    /// (the same subject and events), read once for both rows.
    /// </summary>
    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS, or a later record replaced it.</exception>
    /// <param name="lockRow">Locks the row for the rest of the write transaction (PostgreSQL; SQLite's writer lock already does).</param>
    public async Task<AttestationKeyRecord?> FindAttestationKeyAsync(CurrentHost host, bool lockRow = false)
    {
        ArgumentNullException.ThrowIfNull(host);
        return await FindKeyAsync(host.Record.Name, lockRow, host.History).ConfigureAwait(false);
    }

    private async Task<AttestationKeyRecord?> FindKeyAsync(string hostName, bool lockRow, IReadOnlyList<AdminRecord>? hostHistory)
    {
        var rows = await _db.QueryAsync($"SELECT host_name, ak_public, activated_at, mac FROM tpm_attestation_keys WHERE host_name = @h{(lockRow ? _dialect.ForUpdate : string.Empty)}",
            MapKey, ("@h", hostName)).ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return null;
        }

        var (key, mac) = rows[0];
        if (!VerifiesKey(key, mac))
        {
            throw new RowIntegrityException(KeysTable, key.HostName);
        }

        var history = hostHistory ?? await _history.AboutAsync(key.HostName, AdminRecordEvents.HostAdded, AdminRecordEvents.HostRemoved).ConfigureAwait(false);
        return KeySupersededBy(key, history) is { } replacement
            ? throw RowIntegrityException.Superseded(KeysTable, key.HostName, replacement)
            : key;
    }

    /// <summary>Records (or replaces) the host's activated AK.</summary>
    public Task SetAttestationKeyAsync(AttestationKeyRecord key)
    {
        ArgumentNullException.ThrowIfNull(key);
        long activatedAt = CommandFactory.ToUnixMs(key.ActivatedAt);
        return _db.ExecuteAsync(
            "INSERT INTO tpm_attestation_keys (host_name, ak_public, activated_at, mac) VALUES (@h, @k, @a, @m) ON CONFLICT (host_name) DO UPDATE SET ak_public = excluded.ak_public, activated_at = excluded.activated_at, mac = excluded.mac",
            ("@h", key.HostName), ("@k", key.AkPublic), ("@a", activatedAt), ("@m", _mac.Seal(KeysTable, key.HostName, key.AkPublic, activatedAt)));
    }

    /// <summary>Removes the host's AK.</summary>
    public Task RemoveHostAsync(string hostName) =>
        _db.ExecuteAsync("DELETE FROM tpm_attestation_keys WHERE host_name = @h", ("@h", hostName));

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var roots = await _db.QueryAsync("SELECT thumbprint, subject, certificate, added_at, mac FROM tpm_roots", MapRoot).ConfigureAwait(false);
        foreach (var (root, _) in roots)
        {
            await _db.ExecuteAsync("UPDATE tpm_roots SET mac = @m WHERE thumbprint = @t", ("@t", root.Thumbprint), ("@m", SealRoot(root))).ConfigureAwait(false);
        }

        var keys = await _db.QueryAsync("SELECT host_name, ak_public, activated_at FROM tpm_attestation_keys", r => (r.GetString(0), (byte[])r.GetValue(1), r.GetInt64(2))).ConfigureAwait(false);
        foreach (var (host, ak, at) in keys)
        {
            await _db.ExecuteAsync("UPDATE tpm_attestation_keys SET mac = @m WHERE host_name = @h", ("@h", host), ("@m", _mac.Seal(KeysTable, host, ak, at))).ConfigureAwait(false);
        }

        // Pending activations of a release from before design change 74 are not sealed: nothing reads them, and
        // migration 10 drops their table.
        return roots.Count + keys.Count;
    }

    private byte[] SealRoot(TpmRootRecord r) => _mac.Seal(RootsTable, r.Thumbprint, r.Subject, r.Certificate, CommandFactory.ToUnixMs(r.AddedAt));

    private bool VerifiesRoot(TpmRootRecord r, byte[]? mac) => _mac.Verifies(mac, RootsTable, r.Thumbprint, r.Subject, r.Certificate, CommandFactory.ToUnixMs(r.AddedAt));

    private bool VerifiesKey(AttestationKeyRecord k, byte[]? mac) => _mac.Verifies(mac, KeysTable, k.HostName, k.AkPublic, CommandFactory.ToUnixMs(k.ActivatedAt));

    private static (AttestationKeyRecord Key, byte[]? Mac) MapKey(DbDataReader r) =>
        (new(r.GetString(0), (byte[])r.GetValue(1), CommandFactory.FromUnixMs(r.GetInt64(2))), CommandFactory.Mac(r, 3));

    private static (TpmRootRecord, byte[]?) MapRoot(DbDataReader r) =>
        (new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), CommandFactory.FromUnixMs(r.GetInt64(3))), CommandFactory.Mac(r, 4));
}
