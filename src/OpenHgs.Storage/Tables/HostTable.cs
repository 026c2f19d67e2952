using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// Registered guarded hosts, found by name or by the SHA-256 thumbprint of their key. Every row carries a MAC over
/// all its columns: a look-up of a row that fails it throws <see cref="RowIntegrityException"/>; the list reports it.
/// </summary>
public sealed class HostTable
{
    internal const string Table = "hosts";
    private const string Columns = "name, mode, public_key, key_thumbprint, added_at";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly SqlDialect _dialect;

    internal HostTable(CommandFactory db, RowMac mac, SqlDialect dialect)
    {
        _db = db;
        _mac = mac;
        _dialect = dialect;
    }

    public async Task<RowSet<HostRecord>> ListAsync() =>
        RowMac.Partition(await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts ORDER BY name", Map).ConfigureAwait(false), Verifies, Table, h => h.Name);

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    public async Task<HostRecord?> FindByNameAsync(string name) =>
        Checked(await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts WHERE name = @n", Map, ("@n", name)).ConfigureAwait(false));

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    /// <param name="lockRow">Locks the row for the rest of the write transaction (PostgreSQL; SQLite's writer lock already does).</param>
    public async Task<HostRecord?> FindByThumbprintAsync(string thumbprint, bool lockRow = false) =>
        Checked(await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts WHERE key_thumbprint = @t{(lockRow ? _dialect.ForUpdate : string.Empty)}", Map, ("@t", thumbprint)).ConfigureAwait(false));

    public Task AddAsync(HostRecord host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return _db.ExecuteAsync(
            $"INSERT INTO hosts ({Columns}, mac) VALUES (@n, @m, @k, @t, @a, @mac)",
            ("@n", host.Name), ("@m", host.Mode), ("@k", host.PublicKey), ("@t", host.KeyThumbprint), ("@a", CommandFactory.ToUnixMs(host.AddedAt)), ("@mac", Seal(host)));
    }

    public async Task<bool> RemoveAsync(string name) =>
        await _db.ExecuteAsync("DELETE FROM hosts WHERE name = @n", ("@n", name)).ConfigureAwait(false) > 0;

    public async Task<long> CountAsync() =>
        Convert.ToInt64(await _db.ScalarAsync("SELECT COUNT(*) FROM hosts").ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts", Map).ConfigureAwait(false);
        foreach (var (host, _) in rows)
        {
            await _db.ExecuteAsync("UPDATE hosts SET mac = @mac WHERE name = @n", ("@n", host.Name), ("@mac", Seal(host))).ConfigureAwait(false);
        }

        return rows.Count;
    }

    private HostRecord? Checked(List<(HostRecord Host, byte[]? Mac)> rows) =>
        rows.Count == 0 ? null
        : Verifies(rows[0].Host, rows[0].Mac) ? rows[0].Host
        : throw new RowIntegrityException(Table, rows[0].Host.Name);

    private byte[] Seal(HostRecord h) => _mac.Seal(Table, h.Name, h.Mode, h.PublicKey, h.KeyThumbprint, CommandFactory.ToUnixMs(h.AddedAt));

    private bool Verifies(HostRecord h, byte[]? mac) => _mac.Verifies(mac, Table, h.Name, h.Mode, h.PublicKey, h.KeyThumbprint, CommandFactory.ToUnixMs(h.AddedAt));

    private static (HostRecord, byte[]?) Map(DbDataReader r) =>
        (new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), r.GetString(3), CommandFactory.FromUnixMs(r.GetInt64(4))), CommandFactory.Mac(r, 5));
}
