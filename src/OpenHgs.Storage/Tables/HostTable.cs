using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// Registered guarded hosts, found by name or by the SHA-256 thumbprint of their key (and, for a TPM host since
/// migration 10, its EK certificate and chain). Every row carries a MAC over all its columns (the EK columns once set,
/// <see cref="RowMac.Covered"/>), and must be what the audit trail last said about its host (<see cref="AdminRecordHistory"/>): a
/// look-up of a row that fails either throws <see cref="RowIntegrityException"/>; the list reports it.
/// </summary>
public sealed class HostTable
{
    internal const string Table = "hosts";
    private const string Columns = "name, mode, public_key, key_thumbprint, added_at, ek_certificate, ek_chain";

    /// <summary>The columns of every schema (the one-time sealing of migration 3 runs before the EK columns exist).</summary>
    private const string FirstColumns = "name, mode, public_key, key_thumbprint, added_at";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly SqlDialect _dialect;
    private readonly AdminRecordHistory _history;

    internal HostTable(CommandFactory db, RowMac mac, SqlDialect dialect, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _dialect = dialect;
        _history = history;
    }

    public async Task<RowSet<HostRecord>> ListAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts ORDER BY name", Map).ConfigureAwait(false);
        var history = await _history.AllAsync(string.Empty, AdminRecordEvents.HostAdded, AdminRecordEvents.HostRemoved).ConfigureAwait(false);
        return RowMac.Partition(rows, Verifies, Table, h => h.Name, h => SupersededBy(h, history[h.Name]));
    }

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS, or is an older copy put back.</exception>
    public async Task<HostRecord?> FindByNameAsync(string name) =>
        (await CheckedAsync(await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts WHERE name = @n", Map, ("@n", name)).ConfigureAwait(false)).ConfigureAwait(false))?.Record;

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS, or is an older copy put back.</exception>
    /// <param name="lockRow">Locks the row for the rest of the write transaction (PostgreSQL; SQLite's writer lock already does).</param>
    public async Task<HostRecord?> FindByThumbprintAsync(string thumbprint, bool lockRow = false) =>
        (await FindCurrentByThumbprintAsync(thumbprint, lockRow).ConfigureAwait(false))?.Record;

    /// <summary>
    /// As <see cref="FindByThumbprintAsync"/>, with the admin records the row was judged by, so another row of the same
    /// host (its attestation key, <see cref="TpmTable.FindAttestationKeyAsync(CurrentHost, bool)"/>) is judged by them
    /// without reading them again.
    /// </summary>
    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS, or is an older copy put back.</exception>
    public async Task<CurrentHost?> FindCurrentByThumbprintAsync(string thumbprint, bool lockRow = false) =>
        await CheckedAsync(await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts WHERE key_thumbprint = @t{(lockRow ? _dialect.ForUpdate : string.Empty)}", Map, ("@t", thumbprint)).ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// The removal that came after the registration this row records, or null when the row is the host's current one.
    /// Its own registration (an add naming its key) makes it current; a removal after that means it was removed since.
    /// Adds of another key under the name (a later re-registration) and records that name no key (a TPM host's AK
    /// activation) do not bear on it.
    /// </summary>
    internal static long? SupersededBy(HostRecord host, IEnumerable<AdminRecord> newestFirst) =>
        AdminRecordHistory.SupersededBy(newestFirst, record => record.Event == AdminRecordEvents.HostRemoved ? RecordBearing.Replaced
            : record.Detail("keyThumbprint") == host.KeyThumbprint ? RecordBearing.ThisRow
            : RecordBearing.Silent);

    public Task AddAsync(HostRecord host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return _db.ExecuteAsync(
            $"INSERT INTO hosts ({Columns}, mac) VALUES (@n, @m, @k, @t, @a, @c, @e, @mac)",
            ("@n", host.Name), ("@m", host.Mode), ("@k", host.PublicKey), ("@t", host.KeyThumbprint), ("@a", CommandFactory.ToUnixMs(host.AddedAt)),
            ("@c", host.EkCertificate), ("@e", host.EkChain), ("@mac", Seal(host)));
    }

    public async Task<bool> RemoveAsync(string name) =>
        await _db.ExecuteAsync("DELETE FROM hosts WHERE name = @n", ("@n", name)).ConfigureAwait(false) > 0;

    public async Task<long> CountAsync() =>
        Convert.ToInt64(await _db.ScalarAsync("SELECT COUNT(*) FROM hosts").ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {FirstColumns} FROM hosts",
            r => new HostRecord(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), r.GetString(3), CommandFactory.FromUnixMs(r.GetInt64(4)))).ConfigureAwait(false);
        foreach (var host in rows)
        {
            await _db.ExecuteAsync("UPDATE hosts SET mac = @mac WHERE name = @n", ("@n", host.Name), ("@mac", Seal(host))).ConfigureAwait(false);
        }

        return rows.Count;
    }

    private async Task<CurrentHost?> CheckedAsync(List<(HostRecord Host, byte[]? Mac)> rows)
    {
        if (rows.Count == 0)
        {
            return null;
        }

        var (host, mac) = rows[0];
        if (!Verifies(host, mac))
        {
            throw new RowIntegrityException(Table, host.Name);
        }

        var history = await _history.AboutAsync(host.Name, AdminRecordEvents.HostAdded, AdminRecordEvents.HostRemoved).ConfigureAwait(false);
        return SupersededBy(host, history) is { } removal
            ? throw RowIntegrityException.Superseded(Table, host.Name, removal)
            : new CurrentHost(host, history);
    }

    private byte[] Seal(HostRecord h) => _mac.Seal(Table, h.Name, [.. Covered(h)]);

    private bool Verifies(HostRecord h, byte[]? mac) => _mac.Verifies(mac, Table, h.Name, [.. Covered(h)]);

    /// <summary>Every column; the EK columns of migration 10 only when set, so rows from before keep their MAC.</summary>
    private static IReadOnlyList<object?> Covered(HostRecord h) =>
        RowMac.Covered([h.Mode, h.PublicKey, h.KeyThumbprint, CommandFactory.ToUnixMs(h.AddedAt), h.EkCertificate, h.EkChain], added: 2);

    private static (HostRecord, byte[]?) Map(DbDataReader r) =>
        (new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), r.GetString(3), CommandFactory.FromUnixMs(r.GetInt64(4)),
            r.IsDBNull(5) ? null : (byte[])r.GetValue(5), r.IsDBNull(6) ? null : r.GetString(6)), CommandFactory.Mac(r, 7));
}

/// <summary>
/// A host row that passed its checks, with the believed admin records about the host (newest first) it was judged by:
/// registrations and removals under its name, which also decide whether its attestation key is current.
/// </summary>
public sealed record CurrentHost(HostRecord Record, IReadOnlyList<AdminRecord> History);
