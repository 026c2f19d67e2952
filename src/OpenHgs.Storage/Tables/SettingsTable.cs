using System.Security.Cryptography;

namespace OpenHgs.Storage;

/// <summary>
/// A setting as read and checked by <see cref="SettingsTable.GetVerifiedAsync"/>: only that method makes one, so
/// holding one means its row (value and MAC) verified. Immutable; a cache keeps it to skip the MAC check while the
/// row stays byte-for-byte the same.
/// </summary>
public sealed class VerifiedSetting
{
    internal VerifiedSetting(string name, string value, byte[] mac)
    {
        Name = name;
        Value = value;
        Mac = mac;
    }

    public string Name { get; }

    public string Value { get; }

    internal byte[] Mac { get; }

    /// <summary>True when the stored row is exactly this verified one (the MAC compared in constant time).</summary>
    internal bool IsRow(string name, string value, byte[]? mac) =>
        mac is { Length: 32 } && string.Equals(name, Name, StringComparison.Ordinal) && string.Equals(value, Value, StringComparison.Ordinal)
        && CryptographicOperations.FixedTimeEquals(mac, Mac);
}

/// <summary>
/// Named service settings (mode, deny-before date, admin credential hash, policy version). Every row carries a MAC
/// (<see cref="RowMac"/>): a row that fails it throws <see cref="RowIntegrityException"/> instead of being used.
/// </summary>
public sealed class SettingsTable
{
    public const string Table = "settings";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;

    internal SettingsTable(CommandFactory db, RowMac mac)
    {
        _db = db;
        _mac = mac;
    }

    /// <summary>The setting's value, or null when it is not set.</summary>
    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    public async Task<string?> GetAsync(string name)
    {
        if (await ReadRowAsync(name).ConfigureAwait(false) is not { } found)
        {
            return null;
        }

        _mac.Check(found.Mac, Table, name, found.Value);
        return found.Value;
    }

    /// <summary>The value of a setting that always has a row (written at init, never deleted).</summary>
    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS, or it is missing (<see cref="RowIntegrityException.IsMissing"/>).</exception>
    public async Task<string> GetRequiredAsync(string name) =>
        await GetAsync(name).ConfigureAwait(false) ?? throw RowIntegrityException.Missing(Table, name);

    /// <summary>
    /// The setting's row, read every time: <paramref name="known"/> itself when the row is still exactly that verified
    /// row (no MAC computation), else the row checked afresh; null when it is not set. For values that must follow
    /// changes made by another process or node at once (the admin credential hash) without a key store MAC per read.
    /// </summary>
    /// <exception cref="RowIntegrityException">The row was written or edited outside OpenHGS.</exception>
    public async Task<VerifiedSetting?> GetVerifiedAsync(string name, VerifiedSetting? known)
    {
        if (await ReadRowAsync(name).ConfigureAwait(false) is not { } found)
        {
            return null;
        }

        if (known is not null && known.IsRow(name, found.Value, found.Mac))
        {
            return known;
        }

        _mac.Check(found.Mac, Table, name, found.Value);
        return new VerifiedSetting(name, found.Value, found.Mac!);
    }

    private async Task<(string Value, byte[]? Mac)?> ReadRowAsync(string name) =>
        (await _db.QueryAsync("SELECT value, mac FROM settings WHERE name = @n", r => (r.GetString(0), CommandFactory.Mac(r, 1)), ("@n", name)).ConfigureAwait(false))
            .Cast<(string Value, byte[]? Mac)?>().SingleOrDefault();

    public async Task SetAsync(string name, string? value)
    {
        if (value is null)
        {
            await _db.ExecuteAsync("DELETE FROM settings WHERE name = @n", ("@n", name)).ConfigureAwait(false);
            return;
        }

        await _db.ExecuteAsync(
            "INSERT INTO settings (name, value, mac) VALUES (@n, @v, @m) ON CONFLICT (name) DO UPDATE SET value = excluded.value, mac = excluded.mac",
            ("@n", name), ("@v", value), ("@m", _mac.Seal(Table, name, value))).ConfigureAwait(false);
    }

    /// <summary>MACs every row as it is now (the one-time upgrade of a fabric from before row MACs); returns how many.</summary>
    internal async Task<int> SealAllAsync()
    {
        var rows = await _db.QueryAsync("SELECT name, value FROM settings", r => (r.GetString(0), r.GetString(1))).ConfigureAwait(false);
        foreach (var (name, value) in rows)
        {
            await _db.ExecuteAsync("UPDATE settings SET mac = @m WHERE name = @n", ("@n", name), ("@m", _mac.Seal(Table, name, value))).ConfigureAwait(false);
        }

        return rows.Count;
    }
}
