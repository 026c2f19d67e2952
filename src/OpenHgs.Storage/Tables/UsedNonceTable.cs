namespace OpenHgs.Storage;

/// <summary>
/// Attestation nonces already answered, by hash, each with the nonce's own expiry. Challenges are stateless (the nonce
/// carries its expiry and a MAC, docs/design-changes.md §55), so this table is what makes a nonce single-use: the
/// attestation's one commit inserts the nonce's row, and the primary key lets exactly one of two concurrent uses of a
/// nonce commit it, on any node sharing the database. A row is needed only until the nonce expires.
/// </summary>
public sealed class UsedNonceTable
{
    private readonly CommandFactory _db;

    internal UsedNonceTable(CommandFactory db) => _db = db;

    /// <summary>
    /// True when the nonce is recorded as used; a cheap indexed read before the expensive checks (and the key store's
    /// signature). Only <see cref="TryMarkUsedAsync"/> makes a nonce used: a nonce this read finds unused can still lose there.
    /// </summary>
    public async Task<bool> IsUsedAsync(string nonceHash) =>
        await _db.ScalarAsync("SELECT 1 FROM used_nonces WHERE nonce_hash = @h", ("@h", nonceHash)).ConfigureAwait(false) is not null;

    /// <summary>
    /// Records the nonce as used, in the caller's transaction. False, having written nothing, when it already is —
    /// including when a concurrent transaction inserted it first (PostgreSQL waits for that transaction and then finds
    /// the conflict; SQLite admits one writer at a time): of concurrent uses, exactly one gets true.
    /// </summary>
    public async Task<bool> TryMarkUsedAsync(string nonceHash, DateTimeOffset expiresAt) =>
        await _db.ExecuteAsync(
            "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES (@h, @e) ON CONFLICT (nonce_hash) DO NOTHING",
            ("@h", nonceHash), ("@e", CommandFactory.ToUnixMs(expiresAt))).ConfigureAwait(false) == 1;

    /// <summary>Removes the rows of nonces that expired before <paramref name="before"/> (such a nonce is refused by its own expiry).</summary>
    public Task<int> PurgeExpiredAsync(DateTimeOffset before) =>
        _db.ExecuteAsync("DELETE FROM used_nonces WHERE expires_at < @before", ("@before", CommandFactory.ToUnixMs(before)));
}
