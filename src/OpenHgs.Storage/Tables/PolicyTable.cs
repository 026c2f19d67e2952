namespace OpenHgs.Storage;

/// <summary>A registered TPM baseline (a reference host's measurements, per hardware class).</summary>
public sealed record BaselineRecord(string Name, byte[] Document, DateTimeOffset AddedAt);

/// <summary>Attestation policy states set by the admin (a policy without a row has its default state) and registered baselines.</summary>
public sealed class PolicyTable
{
    private readonly CommandFactory _db;

    internal PolicyTable(CommandFactory db) => _db = db;

    public async Task<Dictionary<string, string>> GetStatesAsync() =>
        (await _db.QueryAsync("SELECT name, state FROM policies", r => (r.GetString(0), r.GetString(1))).ConfigureAwait(false))
            .ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);

    public Task SetStateAsync(string name, string state) =>
        _db.ExecuteAsync("INSERT INTO policies (name, state) VALUES (@n, @s) ON CONFLICT (name) DO UPDATE SET state = excluded.state", ("@n", name), ("@s", state));

    public Task<List<BaselineRecord>> ListBaselinesAsync() =>
        _db.QueryAsync("SELECT name, document, added_at FROM baselines ORDER BY name",
            r => new BaselineRecord(r.GetString(0), (byte[])r.GetValue(1), CommandFactory.FromUnixMs(r.GetInt64(2))));

    /// <summary>Removes a baseline; false when there is none of that name.</summary>
    public async Task<bool> RemoveBaselineAsync(string name) =>
        await _db.ExecuteAsync("DELETE FROM baselines WHERE name = @n", ("@n", name)).ConfigureAwait(false) > 0;

    /// <summary>Adds a baseline; false when the name is taken.</summary>
    public async Task<bool> AddBaselineAsync(BaselineRecord baseline)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        return await _db.ExecuteAsync(
            "INSERT INTO baselines (name, document, added_at) VALUES (@n, @d, @a) ON CONFLICT (name) DO NOTHING",
            ("@n", baseline.Name), ("@d", baseline.Document), ("@a", CommandFactory.ToUnixMs(baseline.AddedAt))).ConfigureAwait(false) > 0;
    }
}
