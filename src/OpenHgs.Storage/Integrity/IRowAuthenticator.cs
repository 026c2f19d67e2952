namespace OpenHgs.Storage;

/// <summary>
/// Computes the MAC of a row's canonical encoding with a key the database does not hold (the service's key store).
/// </summary>
/// <remarks>
/// Security contract: the MAC key never reaches the database or this process's callers; whoever can write the
/// database but not use the key cannot produce a row that verifies. Implementations throw (and never return a
/// made-up value) when the key is unavailable, so readers fail closed.
/// </remarks>
public interface IRowAuthenticator
{
    /// <summary>HMAC-SHA256 (32 bytes) of <paramref name="canonicalRow"/>.</summary>
    byte[] Compute(byte[] canonicalRow);

    /// <summary>
    /// True when <paramref name="mac"/> is the HMAC-SHA256 of <paramref name="canonicalRow"/>, compared in constant time.
    /// An implementation may remember a success (the answer is a pure function of key, row and MAC) but never a
    /// failure, and throws like <see cref="Compute"/> when it has to ask the key and cannot.
    /// </summary>
    bool Verify(byte[] canonicalRow, byte[] mac);
}

/// <summary>
/// A security-relevant row whose MAC is missing or does not verify: it was written (or moved, or edited) outside
/// OpenHGS. Such a row is never used; what that means for each table is described in docs/security.md. Also a row the
/// service never deletes that is not there (<see cref="Missing"/>): its absence is not read as a default; and an older
/// copy of a row that the audit trail says was removed or replaced since (<see cref="Superseded"/>): a replay.
/// </summary>
public sealed class RowIntegrityException : Exception
{
    public RowIntegrityException(string table, string key)
        : this(table, key, $"The {table} row '{key}' fails its integrity check (its MAC is missing or wrong): it was changed outside OpenHGS and is not used.", isMissing: false, supersededBy: null)
    {
    }

    private RowIntegrityException(string table, string key, string message, bool isMissing, long? supersededBy)
        : base(message)
    {
        Table = table;
        Key = key;
        IsMissing = isMissing;
        SupersededBy = supersededBy;
    }

    public string Table { get; }

    public string Key { get; }

    /// <summary>True when the row is absent rather than altered.</summary>
    public bool IsMissing { get; }

    /// <summary>The audit record that removed or replaced this (older) copy of the row, when that is the failure.</summary>
    public long? SupersededBy { get; }

    /// <summary>A row that must exist (the service writes it once and never deletes it) is not there.</summary>
    public static RowIntegrityException Missing(string table, string key) =>
        new(table, key, $"The {table} row '{key}' is missing: OpenHGS never deletes it, so it was removed outside OpenHGS, and its absence is not read as a default.", isMissing: true, supersededBy: null);

    /// <summary>A row the audit trail says OpenHGS wrote and did not remove since is not there: it was deleted outside OpenHGS.</summary>
    public static RowIntegrityException Deleted(string table, string key) =>
        new(table, key, $"The {table} row '{key}' is missing: the audit trail's last record about it wrote it, so it was deleted outside OpenHGS, and its absence is not read as no row.", isMissing: true, supersededBy: null);

    /// <summary>
    /// The row's MAC verifies, but audit record <paramref name="sequence"/> removed or replaced it after it was written: it
    /// is an older copy put back outside OpenHGS (a replay), and is not used.
    /// </summary>
    public static RowIntegrityException Superseded(string table, string key, long sequence) =>
        new(table, key, $"The {table} row '{key}' is an older copy: audit record {sequence} removed or replaced it after it was written, so it was put back outside OpenHGS and is not used.", isMissing: false, supersededBy: sequence);
}

/// <summary>
/// A row that failed its integrity check, by table and primary key: its MAC does not verify, or (with
/// <paramref name="SupersededBy"/>) it verifies but is an older copy that audit record <paramref name="SupersededBy"/> replaced,
/// or (with <paramref name="IsMissing"/>) the audit trail says it exists and it was deleted.
/// </summary>
public sealed record RejectedRow(string Table, string Key, long? SupersededBy = null, bool IsMissing = false)
{
    /// <summary>The exception a single read of this row throws.</summary>
    public RowIntegrityException ToException() =>
        IsMissing ? RowIntegrityException.Deleted(Table, Key)
        : SupersededBy is { } sequence ? RowIntegrityException.Superseded(Table, Key, sequence) : new RowIntegrityException(Table, Key);
}

/// <summary>The rows of a list that verified, and those that did not (never used; reported).</summary>
public sealed record RowSet<T>(IReadOnlyList<T> Rows, IReadOnlyList<RejectedRow> Rejected)
{
    /// <summary>The rows, when every one verified; otherwise the first rejected row's exception (for reads that need the whole set).</summary>
    /// <exception cref="RowIntegrityException">A row failed its integrity check.</exception>
    public IReadOnlyList<T> AllOrThrow() => Rejected.Count == 0 ? Rows : throw Rejected[0].ToException();
}
