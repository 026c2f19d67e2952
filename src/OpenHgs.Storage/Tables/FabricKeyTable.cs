using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>The fabric's keys by role; at most one primary per role is kept by the service layer.</summary>
public sealed class FabricKeyTable
{
    private const string Columns = "id, role, label, algorithm, certificate, is_primary, enabled, created_at";
    private readonly CommandFactory _db;

    internal FabricKeyTable(CommandFactory db) => _db = db;

    public Task<List<FabricKeyRecord>> ListAsync() =>
        _db.QueryAsync($"SELECT {Columns} FROM fabric_keys ORDER BY role, created_at, id", Map);

    public async Task<FabricKeyRecord?> FindAsync(string id) =>
        (await _db.QueryAsync($"SELECT {Columns} FROM fabric_keys WHERE id = @id", Map, ("@id", id)).ConfigureAwait(false)).SingleOrDefault();

    public Task AddAsync(FabricKeyRecord key) =>
        _db.ExecuteAsync(
            $"INSERT INTO fabric_keys ({Columns}) VALUES (@id, @role, @label, @alg, @cert, @primary, @enabled, @created)",
            ("@id", key.Id), ("@role", key.Role), ("@label", key.Label), ("@alg", key.Algorithm), ("@cert", key.Certificate),
            ("@primary", key.IsPrimary ? 1 : 0), ("@enabled", key.Enabled ? 1 : 0), ("@created", CommandFactory.ToUnixMs(key.CreatedAt)));

    public Task SetEnabledAsync(string id, bool enabled) =>
        _db.ExecuteAsync("UPDATE fabric_keys SET enabled = @e WHERE id = @id", ("@e", enabled ? 1 : 0), ("@id", id));

    /// <summary>Makes <paramref name="id"/> the only primary key of its role.</summary>
    public async Task SetPrimaryAsync(string id, string role)
    {
        await _db.ExecuteAsync("UPDATE fabric_keys SET is_primary = 0 WHERE role = @role", ("@role", role)).ConfigureAwait(false);
        await _db.ExecuteAsync("UPDATE fabric_keys SET is_primary = 1 WHERE id = @id", ("@id", id)).ConfigureAwait(false);
    }

    public async Task<bool> RemoveAsync(string id) =>
        await _db.ExecuteAsync("DELETE FROM fabric_keys WHERE id = @id", ("@id", id)).ConfigureAwait(false) > 0;

    private static FabricKeyRecord Map(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), (byte[])r.GetValue(4),
        Convert.ToInt64(r.GetValue(5), System.Globalization.CultureInfo.InvariantCulture) != 0,
        Convert.ToInt64(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture) != 0,
        CommandFactory.FromUnixMs(r.GetInt64(7)));
}
