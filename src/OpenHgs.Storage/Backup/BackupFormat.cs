using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenHgs.Storage.Backup;

/// <summary>Stable refusal codes of <c>hgs server backup|restore</c> (docs/backup.md).</summary>
public static class BackupCodes
{
    /// <summary>The file is not an OpenHGS backup (or a line is not well-formed) although its seal verified, or it has no readable header.</summary>
    public const string Malformed = "BackupMalformed";

    /// <summary>The file ends before its sealed trailer: cut short.</summary>
    public const string Truncated = "BackupTruncated";

    /// <summary>The seal (a MAC under the key store's row-MAC key over every line) does not verify: a line was changed, added or removed.</summary>
    public const string SealInvalid = "BackupSealInvalid";

    /// <summary>The backup was made with another key store (another fabric's checkpoint or row-MAC key), or the target store lacks a key it names.</summary>
    public const string KeyMismatch = "BackupKeyMismatch";

    /// <summary>A row's MAC does not verify (in the backup, or in the database being backed up).</summary>
    public const string RowIntegrity = "BackupRowIntegrity";

    /// <summary>The audit chain or its signed checkpoints do not verify (in the backup, or in the database being backed up).</summary>
    public const string AuditChain = "BackupAuditChain";

    /// <summary>The backup's format or schema version is not the one this release reads and writes.</summary>
    public const string VersionUnsupported = "BackupVersionUnsupported";

    /// <summary>The database's tables or columns are not the ones the backup catalog knows.</summary>
    public const string SchemaMismatch = "BackupSchemaMismatch";

    /// <summary>The restore target already holds a fabric (pass <c>--replace-existing</c> to replace it).</summary>
    public const string TargetNotEmpty = "RestoreTargetNotEmpty";
}

/// <summary>A backup or restore refused, with one of the <see cref="BackupCodes"/>; nothing was written.</summary>
public sealed class BackupException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>Which key store a backup was made with: public identities only (never key material).</summary>
/// <param name="Kind">The store's kind (software, pkcs11, cluster), informational.</param>
/// <param name="CheckpointKeyId">SHA-256 of the audit checkpoint key's SubjectPublicKeyInfo.</param>
/// <param name="RowMacKeyCheck">A key check value: the row-MAC key's HMAC of a fixed domain string.</param>
public sealed record BackupKeyStoreIdentity(string Kind, byte[] CheckpointKeyId, byte[] RowMacKeyCheck);

/// <summary>A key the fabric needs in its key store (HSM): named by label, never exported.</summary>
public sealed record BackupKeyReference(string Label, string Purpose);

/// <summary>The first line of a backup file.</summary>
public sealed record BackupHeader(int SchemaVersion, DateTimeOffset CreatedAt, string Provider, BackupKeyStoreIdentity KeyStore, IReadOnlyList<BackupKeyReference> HsmKeys);

/// <summary>
/// The backup file format: JSON lines. Line 1 is the header (format name and version, schema version, creation time,
/// source database, key store identity, the HSM keys by label, the tables and their columns); then one line per row
/// (<c>{"t":TABLE,"r":[values]}</c>, tables in <see cref="BackupCatalog.Tables"/> order); the last line is the trailer
/// <c>{"trailer":{"rows":N,"digest":HEX,"seal":HEX}}</c>: SHA-256 of every byte before it, and the seal, an HMAC-SHA256 with
/// the key store's row-MAC key over a domain tag, that digest and the row count.
/// </summary>
public static class BackupFormat
{
    public const string FormatName = "openhgs-backup";

    public const int FormatVersion = 1;

    /// <summary>The longest line a reader accepts (a row holds at most a certificate or a baseline document).</summary>
    public const int MaxLineBytes = 16 * 1024 * 1024;

    private static ReadOnlySpan<byte> SealDomain => "OpenHGS-backup-seal-v1\0"u8;

    private static ReadOnlySpan<byte> KeyCheckDomain => "OpenHGS-backup-key-check-v1\0"u8;

    /// <summary>The row-MAC key's check value (what the header names, so a restore can tell another key store at once).</summary>
    public static byte[] KeyCheck(IRowAuthenticator rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return rows.Compute(KeyCheckDomain.ToArray());
    }

    /// <summary>The seal over the digest of every line before the trailer and the number of rows.</summary>
    public static byte[] Seal(IRowAuthenticator rows, ReadOnlySpan<byte> digest, long rowCount)
    {
        ArgumentNullException.ThrowIfNull(rows);
        byte[] input = new byte[SealDomain.Length + digest.Length + 8];
        SealDomain.CopyTo(input);
        digest.CopyTo(input.AsSpan(SealDomain.Length));
        BinaryPrimitives.WriteInt64BigEndian(input.AsSpan(SealDomain.Length + digest.Length), rowCount);
        return rows.Compute(input);
    }

    internal static JsonObject HeaderJson(BackupHeader header) => new()
    {
        ["format"] = FormatName,
        ["version"] = FormatVersion,
        ["schemaVersion"] = header.SchemaVersion,
        ["createdAt"] = header.CreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        ["provider"] = header.Provider,
        ["keyStore"] = new JsonObject
        {
            ["kind"] = header.KeyStore.Kind,
            ["checkpointKeyId"] = Convert.ToHexStringLower(header.KeyStore.CheckpointKeyId),
            ["rowMacKeyCheck"] = Convert.ToHexStringLower(header.KeyStore.RowMacKeyCheck),
        },
        ["hsmKeys"] = new JsonArray([.. header.HsmKeys.Select(k => (JsonNode)new JsonObject { ["label"] = k.Label, ["purpose"] = k.Purpose })]),
        ["tables"] = new JsonArray([.. BackupCatalog.TablesAt(header.SchemaVersion).Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t.Name,
            ["columns"] = new JsonArray([.. t.Columns.Select(c => (JsonNode)JsonValue.Create(c.Name))]),
        })]),
    };

    /// <summary>Parses and checks the header line: the format, its version and the tables must be exactly this release's.</summary>
    internal static BackupHeader ParseHeader(ReadOnlySpan<byte> line)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(line) as JsonObject ?? throw new JsonException();
        }
        catch (JsonException)
        {
            throw new BackupException(BackupCodes.Malformed, "The file is not an OpenHGS backup (its first line is not a backup header).");
        }

        try
        {
            if ((string?)root["format"] != FormatName)
            {
                throw new BackupException(BackupCodes.Malformed, "The file is not an OpenHGS backup (its header names another format).");
            }

            int version = (int)Need(root["version"]);
            int schema = (int)Need(root["schemaVersion"]);
            if (version != FormatVersion || !SqlDialect.HasCurrentTables(schema))
            {
                throw new BackupException(BackupCodes.VersionUnsupported,
                    $"The backup is format {version}, schema {schema}; this release reads format {FormatVersion}, schema {SqlDialect.StatelessChallengeVersion} to {SqlDialect.CurrentVersion}: restore it with the release that made it.");
            }

            var tables = Need(root["tables"]).AsArray().Select(t => (Text(Need(t)["name"]), string.Join(",", Need(t!["columns"]).AsArray().Select(c => Text(c))))).ToList();
            if (!tables.SequenceEqual(BackupCatalog.TablesAt(schema).Select(t => (t.Name, string.Join(",", t.Columns.Select(c => c.Name))))))
            {
                throw new BackupException(BackupCodes.VersionUnsupported, "The backup's tables or columns are not the ones this release backs up: restore it with the release that made it.");
            }

            var store = Need(root["keyStore"]).AsObject();
            return new BackupHeader(
                schema,
                DateTimeOffset.Parse(Text(root["createdAt"]), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                Text(root["provider"]),
                new BackupKeyStoreIdentity(Text(store["kind"]), Convert.FromHexString(Text(store["checkpointKeyId"])), Convert.FromHexString(Text(store["rowMacKeyCheck"]))),
                [.. Need(root["hsmKeys"]).AsArray().Select(k => new BackupKeyReference(Text(Need(k)["label"]), Text(k!["purpose"])))]);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or JsonException or ArgumentException)
        {
            throw new BackupException(BackupCodes.Malformed, "The backup header is incomplete or malformed.");
        }
    }

    internal static void WriteRow(Utf8JsonWriter writer, BackupTable table, object?[] values)
    {
        writer.WriteStartObject();
        writer.WriteString("t", table.Name);
        writer.WriteStartArray("r");
        for (int i = 0; i < values.Length; i++)
        {
            switch (values[i])
            {
                case null:
                    writer.WriteNullValue();
                    break;
                case string s:
                    writer.WriteStringValue(s);
                    break;
                case byte[] b:
                    writer.WriteBase64StringValue(b);
                    break;
                case long l:
                    writer.WriteNumberValue(l);
                    break;
                default:
                    throw new InvalidOperationException($"{table.Name}.{table.Columns[i].Name}: unexpected value type {values[i]!.GetType().Name}.");
            }
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>Parses a row line into its table and typed values (strings, byte arrays, longs, nulls).</summary>
    /// <param name="schemaVersion">The backup's schema: a table has the columns it had then (<see cref="BackupTable.At"/>).</param>
    internal static (BackupTable Table, object?[] Values) ParseRow(ReadOnlySpan<byte> line, int schemaVersion)
    {
        try
        {
            using var document = JsonDocument.Parse(line.ToArray());
            var root = document.RootElement;
            string name = root.GetProperty("t").GetString()!;
            var table = BackupCatalog.Tables.FirstOrDefault(t => t.Name == name)?.At(schemaVersion) ?? throw new FormatException();
            var array = root.GetProperty("r");
            if (array.GetArrayLength() != table.Columns.Count)
            {
                throw new FormatException();
            }

            var values = new object?[table.Columns.Count];
            int i = 0;
            foreach (var element in array.EnumerateArray())
            {
                values[i] = Value(table.Columns[i].Type, element);
                i++;
            }

            return (table, values);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            throw new BackupException(BackupCodes.Malformed, "A row of the backup is malformed.");
        }
    }

    private static object? Value(BackupColumnType type, JsonElement element) => (type, element.ValueKind) switch
    {
        (BackupColumnType.NullableText or BackupColumnType.NullableBlob, JsonValueKind.Null) => null,
        (BackupColumnType.Text or BackupColumnType.NullableText, JsonValueKind.String) => element.GetString(),
        (BackupColumnType.Blob or BackupColumnType.NullableBlob, JsonValueKind.String) => element.GetBytesFromBase64(),
        (BackupColumnType.Int64 or BackupColumnType.Int32 or BackupColumnType.Flag, JsonValueKind.Number) => element.GetInt64(),
        _ => throw new FormatException(),
    };

    internal static byte[] TrailerLine(long rows, byte[] digest, byte[] seal) =>
        JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["trailer"] = new JsonObject { ["rows"] = rows, ["digest"] = Convert.ToHexStringLower(digest), ["seal"] = Convert.ToHexStringLower(seal) },
        });

    /// <summary>True when the line is the trailer (whatever its content).</summary>
    internal static bool IsTrailer(ReadOnlySpan<byte> line) => line.StartsWith("{\"trailer\":"u8);

    internal static (long Rows, byte[] Digest, byte[] Seal) ParseTrailer(ReadOnlySpan<byte> line)
    {
        try
        {
            var trailer = Need(Need(JsonNode.Parse(line))["trailer"]).AsObject();
            return ((long)Need(trailer["rows"]), Convert.FromHexString(Text(trailer["digest"])), Convert.FromHexString(Text(trailer["seal"])));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new BackupException(BackupCodes.SealInvalid, "The backup's trailer (its seal) is malformed.");
        }
    }

    /// <summary>A member a well-formed header or trailer has (a missing one is a format error, never a null).</summary>
    private static JsonNode Need(JsonNode? node) => node ?? throw new FormatException("a required member is missing");

    /// <summary>A required string member (another JSON kind is a format error).</summary>
    private static string Text(JsonNode? node) => Need(node).GetValue<string>();

    /// <summary>True when <paramref name="mac"/> is the row's MAC under <paramref name="rows"/> (constant-time compare).</summary>
    internal static bool RowVerifies(IRowAuthenticator rows, BackupTable table, object?[] values)
    {
        var columns = new List<object?>(values.Length);
        object? mac = null;
        for (int i = 1; i < values.Length; i++)
        {
            if (table.Columns[i].Name == "mac")
            {
                mac = values[i];
                continue;
            }

            columns.Add(table.Columns[i].Type == BackupColumnType.Flag ? (long)values[i]! != 0 : values[i]);
        }

        var covered = RowMac.Covered(columns, table.Columns.Count(c => c.Since > 0));
        return mac is byte[] { Length: 32 } tag && values[0] is string key
            && CryptographicOperations.FixedTimeEquals(tag, rows.Compute(RowMac.Encode(table.Name, key, covered)));
    }
}
