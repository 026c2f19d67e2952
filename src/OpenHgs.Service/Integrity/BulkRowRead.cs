namespace OpenHgs.Service.Integrity;

/// <summary>
/// Marks the current async flow as reading rows in bulk — the row integrity report reads every row of the fabric
/// (design change 81) — so that <see cref="KeyStoreRowAuthenticator"/> answers its verifications from the memo when it
/// can but does not fill the memo with them: a scan larger than the memo would otherwise make it start over and evict
/// the few rows every request reads (settings, policies, the hosts attesting).
/// </summary>
/// <remarks>
/// An <see cref="AsyncLocal{T}"/> flag, so it reaches the database reads the scan awaits and nothing else running at the
/// same time. It changes only what is remembered, never an answer: every row is still checked, by the memo or the key store.
/// </remarks>
public static class BulkRowRead
{
    private static readonly AsyncLocal<bool> Reading = new();

    /// <summary>True inside <see cref="Begin"/>'s scope on this async flow.</summary>
    public static bool Active => Reading.Value;

    /// <summary>Marks this async flow (and what it awaits) as a bulk read until the scope is disposed.</summary>
    public static Scope Begin()
    {
        bool outer = Reading.Value;
        Reading.Value = true;
        return new Scope(outer);
    }

    /// <summary>Restores the flag the flow had before <see cref="Begin"/> (scopes nest).</summary>
    public readonly struct Scope(bool outer) : IDisposable
    {
        public void Dispose() => Reading.Value = outer;
    }
}
