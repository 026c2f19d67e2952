using System.Data.Common;

namespace OpenHgs.Storage;

/// <summary>
/// A TPM manufacturer CRL (design change 69), one per issuing certificate: the issuer's SHA-256 thumbprint (that of its
/// <c>tpm_roots</c> row), its subject, the CRL number (lower-case hex, empty when the CRL has none), thisUpdate and
/// nextUpdate, and the DER CRL.
/// </summary>
public sealed record TpmCrlRecord(string IssuerThumbprint, string IssuerSubject, string Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate,
    byte[] Crl, DateTimeOffset AddedAt)
{
    /// <summary>A row known by its key only (it failed its check, or only its removal is wanted): what a removal needs to name it.</summary>
    public static TpmCrlRecord KeyOnly(string issuerThumbprint, string issuerSubject) =>
        new(issuerThumbprint, issuerSubject, string.Empty, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, [], DateTimeOffset.UnixEpoch);
}

/// <summary>
/// The imported CRLs. Every row carries a MAC over all its columns, and must be what the audit trail last said about its
/// issuer (<see cref="AdminRecordHistory"/>): each import names the CRL's SHA-256 (<c>crlSha256</c>) and each removal
/// says <c>removed</c>, so an older CRL put back (fewer revocations) is <c>superseded</c>, and a CRL row deleted outside
/// OpenHGS — which would quietly un-revoke every certificate it lists — is <c>missing</c>: the trail's last record about
/// the issuer imported a CRL. Both are rejected rows, never used, and the issuer's chains fail closed.
/// </summary>
public sealed class TpmCrlTable
{
    /// <summary>The audit subject of a CRL's records: this prefix and the issuer's thumbprint.</summary>
    public const string SubjectPrefix = "tpm-crl:";

    /// <summary>The detail of an import record naming the CRL it wrote: the SHA-256 of its DER, lower-case hex.</summary>
    public const string DigestDetail = "crlSha256";

    /// <summary>The detail of a removal record.</summary>
    public const string RemovedDetail = "removed";

    internal const string Table = "tpm_crls";
    private const string Columns = "issuer_thumbprint, issuer_subject, crl_number, this_update, next_update, crl, added_at, mac";
    private readonly CommandFactory _db;
    private readonly RowMac _mac;
    private readonly SqlDialect _dialect;
    private readonly AdminRecordHistory _history;

    internal TpmCrlTable(CommandFactory db, RowMac mac, SqlDialect dialect, AdminRecordHistory history)
    {
        _db = db;
        _mac = mac;
        _dialect = dialect;
        _history = history;
    }

    /// <summary>
    /// Locks the issuer's <c>tpm_roots</c> row for the rest of the write transaction (PostgreSQL; SQLite's writer lock
    /// already serializes), so two imports of one issuer's CRL run one after the other and the second compares itself
    /// with the first (the rollback rule); the CRL row itself may not exist yet to be locked.
    /// </summary>
    public Task LockIssuerAsync(string issuerThumbprint) =>
        _db.QueryAsync($"SELECT thumbprint FROM tpm_roots WHERE thumbprint = @t{_dialect.ForUpdate}", r => r.GetString(0), ("@t", issuerThumbprint));

    /// <summary>The SHA-256 of a CRL's DER, lower-case hex (what the import record's <see cref="DigestDetail"/> says).</summary>
    public static string Digest(byte[] crl) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(crl));

    /// <summary>
    /// Every CRL whose row verifies and is current; rejected: rows that fail their MAC, older copies put back, and the
    /// issuers whose CRL the trail says is there but has no row (deleted outside OpenHGS).
    /// </summary>
    public async Task<RowSet<TpmCrlRecord>> ListAsync()
    {
        var rows = await _db.QueryAsync($"SELECT {Columns} FROM tpm_crls ORDER BY issuer_subject, issuer_thumbprint", Map).ConfigureAwait(false);
        var history = await _history.AllAsync(SubjectPrefix, AdminRecordEvents.SettingChanged).ConfigureAwait(false);
        var set = RowMac.Partition(rows, Verifies, Table, c => c.IssuerThumbprint, c => SupersededBy(c, history[SubjectPrefix + c.IssuerThumbprint]));
        var present = rows.Select(r => r.Row.IssuerThumbprint).ToHashSet(StringComparer.Ordinal);
        var deleted = history
            .Where(g => ImportedLast(g) && !present.Contains(g.Key[SubjectPrefix.Length..]))
            .Select(g => new RejectedRow(Table, g.Key[SubjectPrefix.Length..], IsMissing: true))
            .OrderBy(r => r.Key, StringComparer.Ordinal);
        return set with { Rejected = [.. set.Rejected, .. deleted] };
    }

    /// <summary>Adds or replaces the CRL of its issuer.</summary>
    public Task SetAsync(TpmCrlRecord crl)
    {
        ArgumentNullException.ThrowIfNull(crl);
        return _db.ExecuteAsync(
            $"INSERT INTO tpm_crls ({Columns}) VALUES (@t, @s, @n, @u, @x, @c, @a, @m) ON CONFLICT (issuer_thumbprint) DO UPDATE SET " +
            "issuer_subject = excluded.issuer_subject, crl_number = excluded.crl_number, this_update = excluded.this_update, " +
            "next_update = excluded.next_update, crl = excluded.crl, added_at = excluded.added_at, mac = excluded.mac",
            ("@t", crl.IssuerThumbprint), ("@s", crl.IssuerSubject), ("@n", crl.Number), ("@u", CommandFactory.ToUnixMs(crl.ThisUpdate)),
            ("@x", CommandFactory.ToUnixMs(crl.NextUpdate)), ("@c", crl.Crl), ("@a", CommandFactory.ToUnixMs(crl.AddedAt)), ("@m", Seal(crl)));
    }

    /// <summary>Removes the CRL of an issuer; false when there is none.</summary>
    public async Task<bool> RemoveAsync(string issuerThumbprint) =>
        await _db.ExecuteAsync("DELETE FROM tpm_crls WHERE issuer_thumbprint = @t", ("@t", issuerThumbprint)).ConfigureAwait(false) > 0;

    /// <summary>The record that removed the CRL or imported another since this one, or null: each import names its CRL's digest.</summary>
    internal static long? SupersededBy(TpmCrlRecord crl, IEnumerable<AdminRecord> newestFirst)
    {
        string digest = Digest(crl.Crl);
        return AdminRecordHistory.SupersededBy(newestFirst, record =>
            record.Detail(RemovedDetail) == "true" ? RecordBearing.Replaced : AdminRecordHistory.Names(record, DigestDetail, digest));
    }

    /// <summary>Whether the newest record about an issuer that bears on its CRL imported one (rather than removed it).</summary>
    private static bool ImportedLast(IEnumerable<AdminRecord> newestFirst) =>
        newestFirst.FirstOrDefault(r => r.Detail(RemovedDetail) == "true" || r.Detail(DigestDetail) is not null) is { } last
        && last.Detail(RemovedDetail) != "true";

    private byte[] Seal(TpmCrlRecord c) => _mac.Seal(Table, c.IssuerThumbprint, Values(c));

    private bool Verifies(TpmCrlRecord c, byte[]? mac) => _mac.Verifies(mac, Table, c.IssuerThumbprint, Values(c));

    private static object?[] Values(TpmCrlRecord c) =>
        [c.IssuerSubject, c.Number, CommandFactory.ToUnixMs(c.ThisUpdate), CommandFactory.ToUnixMs(c.NextUpdate), c.Crl, CommandFactory.ToUnixMs(c.AddedAt)];

    private static (TpmCrlRecord Row, byte[]? Mac) Map(DbDataReader r) =>
        (new(r.GetString(0), r.GetString(1), r.GetString(2), CommandFactory.FromUnixMs(r.GetInt64(3)), CommandFactory.FromUnixMs(r.GetInt64(4)),
            (byte[])r.GetValue(5), CommandFactory.FromUnixMs(r.GetInt64(6))), CommandFactory.Mac(r, 7));
}
