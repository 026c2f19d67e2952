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

    /// <summary>The admin records that say what became of a host row.</summary>
    private static readonly string[] HistoryEvents = [AdminRecordEvents.HostAdded, AdminRecordEvents.HostRemoved, AdminRecordEvents.HostEkCertificateSet];

    internal HostTable(CommandFactory db, RowMac mac, SqlDialect dialect, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _dialect = dialect;
        _history = history;
    }

    /// <summary>Every row, in name order (the row report; the admin list reads <see cref="ListPageAsync"/>).</summary>
    public async Task<RowSet<HostRecord>> ListAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts ORDER BY name", Map).ConfigureAwait(false);
        var history = await _history.AllAsync(string.Empty, HistoryEvents).ConfigureAwait(false);
        return Partition(rows, history);
    }

    /// <summary>
    /// One page of rows in the database's name order (design change 87): at most <paramref name="limit"/> rows whose name
    /// sorts after <paramref name="after"/> (exclusive; null: from the first) and, with <paramref name="prefix"/>, starts
    /// with it. Only the page's rows, and the admin records about their names, are read and verified. Rows that fail are
    /// reported in the page's <see cref="RowSet{T}.Rejected"/> and still move the cursor, so a page never stalls on one.
    /// </summary>
    public async Task<HostPageRows> ListPageAsync(string? after, string? prefix, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        // The prefix is compared with substr and =, never a range or LIKE (AdminRecordHistory.AllQuery says why); name >
        // @a and ORDER BY name use the column's collation alike, so the pages follow one order on either database.
        string filter = prefix is null ? string.Empty : $"substr(name, 1, {prefix.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)}) = @p";
        string where = (after, filter) switch
        {
            (null, "") => string.Empty,
            (null, _) => " WHERE " + filter,
            (_, "") => " WHERE name > @a",
            _ => " WHERE name > @a AND " + filter,
        };
        // One row more than the page tells whether another page follows, so the last page says so (next null).
        (string, object?)[] filterParameters = prefix is null ? [] : [("@p", prefix)];
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM hosts{where} ORDER BY name LIMIT @n", Map,
            [.. filterParameters, .. after is null ? Array.Empty<(string, object?)>() : [("@a", after)], ("@n", limit + 1)]).ConfigureAwait(false);
        string? next = rows.Count > limit ? rows[limit - 1].Host.Name : null;
        rows = rows.Count > limit ? rows[..limit] : rows;
        var history = await _history.AboutEachAsync([.. rows.Select(r => r.Host.Name).Distinct(StringComparer.Ordinal)], HistoryEvents).ConfigureAwait(false);
        long total = Convert.ToInt64(await _db.ScalarAsync("SELECT COUNT(*) FROM hosts" + (filter.Length == 0 ? string.Empty : " WHERE " + filter), filterParameters).ConfigureAwait(false),
            System.Globalization.CultureInfo.InvariantCulture);
        return new HostPageRows(Partition(rows, history), next, total);
    }

    private RowSet<HostRecord> Partition(List<(HostRecord Host, byte[]? Mac)> rows, ILookup<string, AdminRecord> history) =>
        RowMac.Partition(rows, Verifies, Table, h => h.Name, h => SupersededBy(h, history[h.Name]));

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
    /// activation) do not bear on it. An EK certificate attached since (design change 85) makes current only the row
    /// that holds the certificate it names, so the row from before the attachment, put back, is superseded by it.
    /// </summary>
    internal static long? SupersededBy(HostRecord host, IEnumerable<AdminRecord> newestFirst)
    {
        string? certificate = host.EkCertificate is null ? null : EkCertificateDigest(host.EkCertificate);
        return AdminRecordHistory.SupersededBy(newestFirst, record => record.Event == AdminRecordEvents.HostRemoved ? RecordBearing.Replaced
            : record.Detail("keyThumbprint") != host.KeyThumbprint ? RecordBearing.Silent
            : record.Event != AdminRecordEvents.HostEkCertificateSet ? RecordBearing.ThisRow
            : record.Detail("ekCertificateSha256") == certificate ? RecordBearing.ThisRow
            : RecordBearing.Replaced);
    }

    /// <summary>How an attachment's audit record names the certificate (<c>ekCertificateSha256</c>): the SHA-256 of its DER, lower-case hex.</summary>
    public static string EkCertificateDigest(byte[] certificate) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificate));

    public Task AddAsync(HostRecord host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return _db.ExecuteAsync(
            $"INSERT INTO hosts ({Columns}, mac) VALUES (@n, @m, @k, @t, @a, @c, @e, @mac)",
            ("@n", host.Name), ("@m", host.Mode), ("@k", host.PublicKey), ("@t", host.KeyThumbprint), ("@a", CommandFactory.ToUnixMs(host.AddedAt)),
            ("@c", host.EkCertificate), ("@e", host.EkChain), ("@mac", Seal(host)));
    }

    /// <summary>
    /// Stores the EK certificate and chain of <paramref name="host"/> on its row, re-sealed, if the row is still the
    /// registration of that key without a certificate; false otherwise (removed, re-registered or attached meanwhile).
    /// </summary>
    public async Task<bool> SetEkCertificateAsync(HostRecord host)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(host.EkCertificate);
        ArgumentNullException.ThrowIfNull(host.EkChain);
        return await _db.ExecuteAsync(
            "UPDATE hosts SET ek_certificate = @c, ek_chain = @e, mac = @mac WHERE name = @n AND key_thumbprint = @t AND ek_certificate IS NULL",
            ("@n", host.Name), ("@t", host.KeyThumbprint), ("@c", host.EkCertificate), ("@e", host.EkChain), ("@mac", Seal(host))).ConfigureAwait(false) == 1;
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

        var history = await _history.AboutAsync(host.Name, HistoryEvents).ConfigureAwait(false);
        return SupersededBy(host, history) is { } removal
            ? throw RowIntegrityException.Superseded(Table, host.Name, removal)
            : new CurrentHost(host, history);
    }

    private byte[] Seal(HostRecord h) => _mac.Seal(Table, h.Name, [.. Covered(h)]);

    private bool Verifies(HostRecord h, byte[]? mac) => _mac.Verifies(mac, Table, h.Name, [.. Covered(h)]);

    /// <summary>Every column; the EK columns of migration 10 only when set, so rows from before keep their MAC.</summary>
    private static IReadOnlyList<object?> Covered(HostRecord h) =>
        RowMac.Covered([h.Mode, h.PublicKey, h.KeyThumbprint, CommandFactory.ToUnixMs(h.AddedAt), h.EkCertificate, h.EkChain], added: 2);

    private static (HostRecord Host, byte[]? Mac) Map(DbDataReader r) =>
        (new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), r.GetString(3), CommandFactory.FromUnixMs(r.GetInt64(4)),
            r.IsDBNull(5) ? null : (byte[])r.GetValue(5), r.IsDBNull(6) ? null : r.GetString(6)), CommandFactory.Mac(r, 7));
}

/// <summary>
/// A host row that passed its checks, with the believed admin records about the host (newest first) it was judged by:
/// registrations and removals under its name, which also decide whether its attestation key is current.
/// </summary>
public sealed record CurrentHost(HostRecord Record, IReadOnlyList<AdminRecord> History);

/// <summary>
/// A page of host rows (<see cref="HostTable.ListPageAsync"/>): the rows that verified and those that did not, the name to
/// ask the next page after (null: this is the last), and how many rows the table holds under the page's prefix.
/// </summary>
public sealed record HostPageRows(RowSet<HostRecord> Rows, string? Next, long Total);
