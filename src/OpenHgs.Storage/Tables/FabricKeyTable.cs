using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// The fabric's keys by role; at most one primary per role is kept by the service layer. Every row carries a MAC
/// over all its columns: lists report rows that fail it separately (never used), single reads throw
/// <see cref="RowIntegrityException"/>. The list also reports a row whose flags are not what the audit trail last
/// recorded (<see cref="SupersededBy"/>): an older copy put back, say the old encryption key primary and enabled again
/// after a rotation. Single reads (for an admin change) check the MAC only, so setting the primary again repairs it.
/// </summary>
public sealed class FabricKeyTable
{
    internal const string Table = "fabric_keys";
    private const string Columns = "id, role, label, algorithm, certificate, is_primary, enabled, created_at";
    private static readonly string[] KeyEvents =
        [AdminRecordEvents.KeyAdded, AdminRecordEvents.KeyPrimarySet, AdminRecordEvents.KeyEnabled, AdminRecordEvents.KeyDisabled, AdminRecordEvents.KeyRemoved];

    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly AdminRecordHistory _history;

    internal FabricKeyTable(CommandFactory db, RowMac mac, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _history = history;
    }

    /// <summary>Every key whose row verifies and is current, and the ids of rows that are not.</summary>
    public async Task<RowSet<FabricKeyRecord>> ListAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM fabric_keys ORDER BY role, created_at, id", MapWithMac).ConfigureAwait(false);
        var history = await _history.AllAsync(string.Empty, KeyEvents).ConfigureAwait(false);
        var records = history.SelectMany(g => g).OrderByDescending(r => r.Sequence).ToList();
        return RowMac.Partition(rows, Verifies, Table, k => k.Id, k => SupersededBy(k, records));
    }

    /// <summary>
    /// The record that the row's flags contradict, or null. Enabled: the newest add, enable, disable or removal of this
    /// key decides (a removal supersedes the row outright). Primary: the newest record that made a key of the role
    /// primary (a set-primary, or an add as primary) decides whether this key is it. Flags no record bears on (a fabric
    /// from before its keys were audited this way) are current.
    /// </summary>
    internal static long? SupersededBy(FabricKeyRecord key, IReadOnlyList<AdminRecord> newestFirst)
    {
        var enabling = newestFirst.FirstOrDefault(r => r.Subject == key.Id && r.Event is not AdminRecordEvents.KeyPrimarySet);
        bool? enabled = enabling?.Event switch
        {
            AdminRecordEvents.KeyRemoved => null,
            AdminRecordEvents.KeyDisabled => false,
            _ => true,
        };
        if (enabling is not null && enabled != key.Enabled)
        {
            return enabling.Sequence;
        }

        var primary = newestFirst.FirstOrDefault(r => r.Detail("role") == key.Role
            && (r.Event == AdminRecordEvents.KeyPrimarySet || (r.Event == AdminRecordEvents.KeyAdded && r.Detail("primary") == bool.TrueString)));
        return primary is not null && (primary.Subject == key.Id) != key.IsPrimary ? primary.Sequence : null;
    }

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    public async Task<FabricKeyRecord?> FindAsync(string id)
    {
        var row = (await _db.QueryAsync($"SELECT {Columns}, mac FROM fabric_keys WHERE id = @id", MapWithMac, ("@id", id)).ConfigureAwait(false)).SingleOrDefault();
        if (row.Record is null)
        {
            return null;
        }

        return Verifies(row.Record, row.Mac) ? row.Record : throw new RowIntegrityException(Table, id);
    }

    public Task AddAsync(FabricKeyRecord key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _db.ExecuteAsync(
            $"INSERT INTO fabric_keys ({Columns}, mac) VALUES (@id, @role, @label, @alg, @cert, @primary, @enabled, @created, @mac)",
            ("@id", key.Id), ("@role", key.Role), ("@label", key.Label), ("@alg", key.Algorithm), ("@cert", key.Certificate),
            ("@primary", key.IsPrimary ? 1 : 0), ("@enabled", key.Enabled ? 1 : 0), ("@created", CommandFactory.ToUnixMs(key.CreatedAt)), ("@mac", Seal(key)));
    }

    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    public async Task SetEnabledAsync(string id, bool enabled)
    {
        if (await FindAsync(id).ConfigureAwait(false) is { } key)
        {
            await UpdateFlagsAsync(key with { Enabled = enabled }).ConfigureAwait(false);
        }
    }

    /// <summary>Makes <paramref name="id"/> the only primary key of its role (rows that fail their MAC are left alone: they are never used).</summary>
    public async Task SetPrimaryAsync(string id, string role)
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM fabric_keys WHERE role = @role", MapWithMac, ("@role", role)).ConfigureAwait(false);
        foreach (var record in RowMac.Partition(rows, Verifies, Table, k => k.Id).Rows)
        {
            bool primary = record.Id == id;
            if (record.IsPrimary != primary)
            {
                await UpdateFlagsAsync(record with { IsPrimary = primary }).ConfigureAwait(false);
            }
        }
    }

    public async Task<bool> RemoveAsync(string id) =>
        await _db.ExecuteAsync("DELETE FROM fabric_keys WHERE id = @id", ("@id", id)).ConfigureAwait(false) > 0;

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns}, mac FROM fabric_keys", MapWithMac).ConfigureAwait(false);
        foreach (var (record, _) in rows)
        {
            await _db.ExecuteAsync("UPDATE fabric_keys SET mac = @mac WHERE id = @id", ("@id", record.Id), ("@mac", Seal(record))).ConfigureAwait(false);
        }

        return rows.Count;
    }

    private Task UpdateFlagsAsync(FabricKeyRecord key) =>
        _db.ExecuteAsync("UPDATE fabric_keys SET is_primary = @primary, enabled = @enabled, mac = @mac WHERE id = @id",
            ("@id", key.Id), ("@primary", key.IsPrimary ? 1 : 0), ("@enabled", key.Enabled ? 1 : 0), ("@mac", Seal(key)));

    private byte[] Seal(FabricKeyRecord k) =>
        _mac.Seal(Table, k.Id, k.Role, k.Label, k.Algorithm, k.Certificate, k.IsPrimary, k.Enabled, CommandFactory.ToUnixMs(k.CreatedAt));

    private bool Verifies(FabricKeyRecord k, byte[]? mac) =>
        _mac.Verifies(mac, Table, k.Id, k.Role, k.Label, k.Algorithm, k.Certificate, k.IsPrimary, k.Enabled, CommandFactory.ToUnixMs(k.CreatedAt));

    private static (FabricKeyRecord Record, byte[]? Mac) MapWithMac(DbDataReader r) => (new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), (byte[])r.GetValue(4),
        Convert.ToInt64(r.GetValue(5), System.Globalization.CultureInfo.InvariantCulture) != 0,
        Convert.ToInt64(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture) != 0,
        CommandFactory.FromUnixMs(r.GetInt64(7))), CommandFactory.Mac(r, 8));
}
