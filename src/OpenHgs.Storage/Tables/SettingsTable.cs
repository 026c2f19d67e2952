namespace OpenHgs.Storage;

/// <summary>Named service settings (mode, deny-before date, admin credential hash, policy version).</summary>
public sealed class SettingsTable
{
    private readonly CommandFactory _db;

    internal SettingsTable(CommandFactory db) => _db = db;

    public async Task<string?> GetAsync(string name) =>
        (string?)await _db.ScalarAsync("SELECT value FROM settings WHERE name = @n", ("@n", name)).ConfigureAwait(false);

    public async Task SetAsync(string name, string? value)
    {
        if (value is null)
        {
            await _db.ExecuteAsync("DELETE FROM settings WHERE name = @n", ("@n", name)).ConfigureAwait(false);
            return;
        }

        await _db.ExecuteAsync(
            "INSERT INTO settings (name, value) VALUES (@n, @v) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            ("@n", name), ("@v", value)).ConfigureAwait(false);
    }
}
