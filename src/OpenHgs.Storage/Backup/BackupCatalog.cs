namespace OpenHgs.Storage.Backup;

/// <summary>How a column is stored in the database and written to a backup (database-neutral).</summary>
public enum BackupColumnType
{
    /// <summary>TEXT NOT NULL; a JSON string.</summary>
    Text,

    /// <summary>TEXT NULL; a JSON string or null.</summary>
    NullableText,

    /// <summary>BLOB/BYTEA NOT NULL; base64.</summary>
    Blob,

    /// <summary>BLOB/BYTEA NULL (the row MAC column); base64 or null.</summary>
    NullableBlob,

    /// <summary>BIGINT; a JSON number.</summary>
    Int64,

    /// <summary>INTEGER; a JSON number.</summary>
    Int32,

    /// <summary>INTEGER 0/1 that the row MAC covers as a boolean; a JSON number.</summary>
    Flag,
}

/// <summary>
/// One column of a backed-up table. <paramref name="Since"/> is the schema version that added it to an existing table (0:
/// every schema a backup can have): a backup made at an older schema neither lists it nor has a value for it, and a
/// MACed row covers such columns only when one is set (<see cref="RowMac.Covered"/>).
/// </summary>
public sealed record BackupColumn(string Name, BackupColumnType Type, int Since = 0);

/// <summary>
/// A table a backup holds. With <paramref name="RowMac"/>, a column is <c>mac</c> and the row MAC covers the table name,
/// the first column as the key, and every other column in order (the encoding of <c>RowMac</c>; columns added since the
/// table's first schema follow <c>mac</c>, where the migration that added them put them).
/// <paramref name="Since"/> is the schema version that added the table (0: every schema a backup can have): a backup
/// made at an older schema neither lists the table nor holds rows of it.
/// </summary>
public sealed record BackupTable(string Name, IReadOnlyList<BackupColumn> Columns, string OrderBy, bool RowMac, int Since = 0)
{
    /// <summary>The column list for SQL.</summary>
    public string ColumnList => string.Join(", ", Columns.Select(c => c.Name));

    /// <summary>The table as a backup made at <paramref name="schemaVersion"/> has it: without the columns added since.</summary>
    public BackupTable At(int schemaVersion) =>
        Columns.All(c => c.Since <= schemaVersion) ? this : this with { Columns = [.. Columns.Where(c => c.Since <= schemaVersion)] };
}

/// <summary>
/// Every table of the schema, either backed up (in the order a backup writes and a restore inserts them) or deliberately
/// left out with the reason. A test compares this with the schema the migrations build, and backup and restore both refuse
/// a database whose tables or columns differ from it, so a new table or column cannot be forgotten silently.
/// </summary>
public static class BackupCatalog
{
    private static readonly BackupColumn Mac = new("mac", BackupColumnType.NullableBlob);

    /// <summary>The backed-up tables: row-MACed state first, then the audit checkpoints and head (the chain verifier needs them before the records), then the records.</summary>
    public static IReadOnlyList<BackupTable> Tables { get; } =
    [
        new("settings", [Text("name"), Text("value"), Mac], "name", RowMac: true),
        new("fabric_keys", [Text("id"), Text("role"), Text("label"), Text("algorithm"), Blob("certificate"), new("is_primary", BackupColumnType.Flag),
            new("enabled", BackupColumnType.Flag), Int64("created_at"), Mac], "id", RowMac: true),
        new("hosts", [Text("name"), Text("mode"), Blob("public_key"), Text("key_thumbprint"), Int64("added_at"), Mac,
            new("ek_certificate", BackupColumnType.NullableBlob, SqlDialect.EkCertificateVersion), new("ek_chain", BackupColumnType.NullableText, SqlDialect.EkCertificateVersion)],
            "name", RowMac: true),
        new("tpm_roots", [Text("thumbprint"), Text("subject"), Blob("certificate"), Int64("added_at"), Mac], "thumbprint", RowMac: true),
        new("tpm_crls", [Text("issuer_thumbprint"), Text("issuer_subject"), Text("crl_number"), Int64("this_update"), Int64("next_update"), Blob("crl"),
            Int64("added_at"), Mac], "issuer_thumbprint", RowMac: true, Since: SqlDialect.TpmCrlVersion),
        new("tpm_attestation_keys", [Text("host_name"), Blob("ak_public"), Int64("activated_at"), Mac], "host_name", RowMac: true),
        new("baselines", [Text("name"), Blob("document"), Int64("added_at"), Mac], "name", RowMac: true),
        new("policies", [Text("name"), Text("state"), Mac], "name", RowMac: true),
        new(AuditCheckpointsTable, [Int64("seq"), Blob("hash"), Int64("signed_at"), Blob("key_id"), Blob("signature")], "seq", RowMac: false),
        new(AuditHeadTable, [new("id", BackupColumnType.Int32), Int64("seq"), Blob("hash")], "id", RowMac: false),
        new(AuditLogTable, [Int64("seq"), Int64("ts"), Text("event"), Text("outcome"), Text("subject"), new("reason", BackupColumnType.NullableText),
            Text("details"), Blob("prev_hash"), Blob("hash")], "seq", RowMac: false),
    ];

    /// <summary>The backed-up tables a backup made at <paramref name="schemaVersion"/> lists, with the columns it has (in <see cref="Tables"/> order).</summary>
    public static IReadOnlyList<BackupTable> TablesAt(int schemaVersion) => [.. Tables.Where(t => t.Since <= schemaVersion).Select(t => t.At(schemaVersion))];

    /// <summary>Tables of the schema a backup leaves out, and why.</summary>
    public static IReadOnlyDictionary<string, string> Excluded { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["schema_version"] = "rebuilt by the migrations; the backup header records the schema version",
        ["used_nonces"] = "attestation nonces already answered, needed only until each expires (minutes); a restore within minutes of an attestation could let that nonce be answered once more",
    };

    internal const string AuditLogTable = "audit_log";
    internal const string AuditHeadTable = "audit_head";
    internal const string AuditCheckpointsTable = "audit_checkpoints";

    /// <summary>
    /// Compares a live schema (table → columns in order) with the catalog; returns what differs, or null when the schema is
    /// exactly the backed-up tables plus the excluded ones, with the catalog's columns.
    /// </summary>
    public static string? Difference(IReadOnlyDictionary<string, IReadOnlyList<string>> schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var problems = new List<string>();
        foreach (var (table, columns) in schema.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var known = Tables.FirstOrDefault(t => t.Name == table);
            if (known is null)
            {
                if (!Excluded.ContainsKey(table))
                {
                    problems.Add($"table '{table}' is neither backed up nor excluded");
                }

                continue;
            }

            if (!columns.SequenceEqual(known.Columns.Select(c => c.Name), StringComparer.Ordinal))
            {
                problems.Add($"table '{table}' has columns ({string.Join(", ", columns)}), the backup knows ({known.ColumnList})");
            }
        }

        problems.AddRange(Tables.Where(t => !schema.ContainsKey(t.Name)).Select(t => $"table '{t.Name}' is missing"));
        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    private static BackupColumn Text(string name) => new(name, BackupColumnType.Text);

    private static BackupColumn Blob(string name) => new(name, BackupColumnType.Blob);

    private static BackupColumn Int64(string name) => new(name, BackupColumnType.Int64);
}
