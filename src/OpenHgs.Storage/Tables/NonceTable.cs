namespace OpenHgs.Storage;

/// <summary>
/// Outstanding attestation nonces, stored by hash so a database reader cannot answer a challenge.
/// Consuming deletes the row: a nonce is usable once, on any node sharing the database.
/// </summary>
public sealed class NonceTable
{
    private readonly CommandFactory _db;

    internal NonceTable(CommandFactory db) => _db = db;

    public Task AddAsync(string nonceHash, DateTimeOffset expiresAt) =>
        _db.ExecuteAsync("INSERT INTO nonces (nonce_hash, expires_at) VALUES (@h, @e)", ("@h", nonceHash), ("@e", CommandFactory.ToUnixMs(expiresAt)));

    /// <summary>
    /// The nonce's expiry, or null when it was never issued or is already used; consumes nothing. A cheap check before
    /// the expensive ones (and the key store's signature): only <see cref="ConsumeAsync"/> makes the nonce used.
    /// </summary>
    public async Task<DateTimeOffset?> FindExpiryAsync(string nonceHash)
    {
        var value = await _db.ScalarAsync("SELECT expires_at FROM nonces WHERE nonce_hash = @h", ("@h", nonceHash)).ConfigureAwait(false);
        return value is null ? null : CommandFactory.FromUnixMs(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Deletes the nonce and returns its expiry, or null when it was never issued or is already used.</summary>
    public async Task<DateTimeOffset?> ConsumeAsync(string nonceHash)
    {
        var value = await _db.ScalarAsync("DELETE FROM nonces WHERE nonce_hash = @h RETURNING expires_at", ("@h", nonceHash)).ConfigureAwait(false);
        return value is null ? null : CommandFactory.FromUnixMs(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Removes nonces that expired before <paramref name="now"/>.</summary>
    public Task<int> PurgeExpiredAsync(DateTimeOffset now) =>
        _db.ExecuteAsync("DELETE FROM nonces WHERE expires_at < @now", ("@now", CommandFactory.ToUnixMs(now)));
}
