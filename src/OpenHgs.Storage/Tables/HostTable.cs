using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>Registered guarded hosts, found by name or by the SHA-256 thumbprint of their key.</summary>
public sealed class HostTable
{
    private const string Columns = "name, mode, public_key, key_thumbprint, added_at";
    private readonly CommandFactory _db;

    internal HostTable(CommandFactory db) => _db = db;

    public Task<List<HostRecord>> ListAsync() => _db.QueryAsync($"SELECT {Columns} FROM hosts ORDER BY name", Map);

    public async Task<HostRecord?> FindByNameAsync(string name) =>
        (await _db.QueryAsync($"SELECT {Columns} FROM hosts WHERE name = @n", Map, ("@n", name)).ConfigureAwait(false)).SingleOrDefault();

    public async Task<HostRecord?> FindByThumbprintAsync(string thumbprint) =>
        (await _db.QueryAsync($"SELECT {Columns} FROM hosts WHERE key_thumbprint = @t", Map, ("@t", thumbprint)).ConfigureAwait(false)).SingleOrDefault();

    public Task AddAsync(HostRecord host) =>
        _db.ExecuteAsync(
            $"INSERT INTO hosts ({Columns}) VALUES (@n, @m, @k, @t, @a)",
            ("@n", host.Name), ("@m", host.Mode), ("@k", host.PublicKey), ("@t", host.KeyThumbprint), ("@a", CommandFactory.ToUnixMs(host.AddedAt)));

    public async Task<bool> RemoveAsync(string name) =>
        await _db.ExecuteAsync("DELETE FROM hosts WHERE name = @n", ("@n", name)).ConfigureAwait(false) > 0;

    public async Task<long> CountAsync() =>
        Convert.ToInt64(await _db.ScalarAsync("SELECT COUNT(*) FROM hosts").ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    private static HostRecord Map(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), (byte[])r.GetValue(2), r.GetString(3), CommandFactory.FromUnixMs(r.GetInt64(4)));
}
