using System.Buffers.Binary;
using System.Text;

namespace OpenHgs.Storage;

/// <summary>
/// Seals and checks security-relevant rows: the MAC covers a domain tag, the table name, the row's primary key and
/// every column, each typed and length-prefixed, so a row cannot be moved to another key or table, and no column
/// can be swapped, shortened or moved into its neighbour.
/// </summary>
internal sealed class RowMac(IRowAuthenticator authenticator)
{
    private static readonly byte[] Domain = "OpenHGS-row-mac-v1"u8.ToArray();

    /// <summary>The canonical encoding: domain, table, key, column count, then per column a type tag, a 4-byte length and the bytes.</summary>
    public static byte[] Encode(string table, string key, IReadOnlyList<object?> columns)
    {
        using var buffer = new MemoryStream();
        buffer.Write(Domain);
        Write(buffer, table);
        Write(buffer, key);
        Span<byte> count = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(count, columns.Count);
        buffer.Write(count);
        foreach (object? column in columns)
        {
            Write(buffer, column);
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// The columns a row's MAC covers when the last <paramref name="added"/> were added to its table by a later migration:
    /// all of them when one is set, else only the others. So a row written before them (or with none set) keeps the MAC it
    /// had, needing no re-sealing at the migration nor at the restore of an older backup, while setting or clearing one
    /// changes the column count the encoding covers, and the MAC no longer verifies.
    /// </summary>
    public static IReadOnlyList<object?> Covered(IReadOnlyList<object?> columns, int added)
    {
        ArgumentNullException.ThrowIfNull(columns);
        int keep = columns.Count - added;
        for (int i = keep; i < columns.Count; i++)
        {
            if (columns[i] is not null)
            {
                return columns;
            }
        }

        return [.. columns.Take(keep)];
    }

    public byte[] Seal(string table, string key, params object?[] columns) => authenticator.Compute(Encode(table, key, columns));

    // Through the authenticator's Verify, not Seal and compare: it may answer a repeat of a verified row from memory.
    public bool Verifies(byte[]? mac, string table, string key, params object?[] columns) =>
        mac is { Length: 32 } && authenticator.Verify(Encode(table, key, columns), mac);

    /// <summary>Throws <see cref="RowIntegrityException"/> unless <paramref name="mac"/> is the row's MAC.</summary>
    public void Check(byte[]? mac, string table, string key, params object?[] columns)
    {
        if (!Verifies(mac, table, key, columns))
        {
            throw new RowIntegrityException(table, key);
        }
    }

    /// <summary>
    /// Splits rows into those whose MAC verifies (one MAC computation per row) and, when <paramref name="supersededBy"/> is
    /// given, that are current, and those that are not (with the superseding record when that is why).
    /// </summary>
    public static RowSet<T> Partition<T>(IEnumerable<(T Row, byte[]? Mac)> rows, Func<T, byte[]?, bool> verifies, string table, Func<T, string> key,
        Func<T, long?>? supersededBy = null)
    {
        var valid = new List<T>();
        var rejected = new List<RejectedRow>();
        foreach (var (row, mac) in rows)
        {
            if (!verifies(row, mac))
            {
                rejected.Add(new RejectedRow(table, key(row)));
            }
            else if (supersededBy?.Invoke(row) is { } sequence)
            {
                rejected.Add(new RejectedRow(table, key(row), sequence));
            }
            else
            {
                valid.Add(row);
            }
        }

        return new RowSet<T>(valid, rejected);
    }

    private static void Write(MemoryStream buffer, object? value)
    {
        (byte tag, byte[] bytes) = value switch
        {
            null => ((byte)0, []),
            string s => ((byte)1, Encoding.UTF8.GetBytes(s)),
            byte[] b => ((byte)2, b),
            long l => ((byte)3, BigEndian(l)),
            bool f => ((byte)4, [f ? (byte)1 : (byte)0]),
            _ => throw new ArgumentException($"A row column of type {value.GetType().Name} has no canonical encoding.", nameof(value)),
        };
        Span<byte> header = stackalloc byte[5];
        header[0] = tag;
        BinaryPrimitives.WriteInt32BigEndian(header[1..], bytes.Length);
        buffer.Write(header);
        buffer.Write(bytes);
    }

    private static byte[] BigEndian(long value)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }
}
