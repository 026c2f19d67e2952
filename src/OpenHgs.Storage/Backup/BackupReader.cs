using System.Buffers;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace OpenHgs.Storage.Backup;

/// <summary>What a backup's rows are fed to as they are read (a verifier, the restore's inserts).</summary>
public interface IBackupSink
{
    /// <summary>Checks the header (throw <see cref="BackupException"/> to refuse at once, e.g. another key store).</summary>
    void Header(BackupHeader header);

    /// <summary>One row, typed by its table's catalog entry, in file order.</summary>
    Task RowAsync(BackupTable table, object?[] values);

    /// <summary>Called once every row was read and the seal verified.</summary>
    void Complete();
}

/// <summary>What a verified read found: the header, the digest the seal covers and the number of rows.</summary>
public sealed record BackupScan(BackupHeader Header, byte[] Digest, long Rows);

/// <summary>
/// Reads a backup file line by line (constant memory) and checks its seal. Security contract: nothing the rows say is
/// reported as a finding before the seal verified; with <c>deferRowErrors</c>, a row the sink refuses (or that does not
/// parse) stops the feed but the file is still hashed to its end, so a tampered file is named by its seal
/// (<see cref="BackupCodes.SealInvalid"/>) or as cut short (<see cref="BackupCodes.Truncated"/>), and only a sealed
/// file's content errors surface (<see cref="BackupCodes.RowIntegrity"/>, <see cref="BackupCodes.AuditChain"/>).
/// </summary>
public static class BackupReader
{
    public static async Task<BackupScan> ReadAsync(string path, IRowAuthenticator rows, IBackupSink sink, bool deferRowErrors, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(sink);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        BackupHeader? header = null;
        (long Rows, byte[] Digest, byte[] Seal)? trailer = null;
        BackupException? deferred = null;
        bool dataAfterTrailer = false;
        bool cutShort = false;
        long count = 0;
        int tableIndex = 0;
        await foreach (var (line, terminated) in LinesAsync(file, cancellationToken).ConfigureAwait(false))
        {
            if (!terminated)
            {
                cutShort = true;
                break;
            }

            if (trailer is not null)
            {
                dataAfterTrailer = true;
                break;
            }

            if (header is null)
            {
                header = BackupFormat.ParseHeader(line);
                sink.Header(header);
                hash.AppendData(line);
                hash.AppendData("\n"u8);
                continue;
            }

            if (BackupFormat.IsTrailer(line))
            {
                trailer = BackupFormat.ParseTrailer(line);
                continue;
            }

            hash.AppendData(line);
            hash.AppendData("\n"u8);
            count++;
            if (deferred is not null)
            {
                continue;
            }

            try
            {
                var (table, values) = BackupFormat.ParseRow(line, header.SchemaVersion);
                if (table.Since > header.SchemaVersion)
                {
                    throw new BackupException(BackupCodes.Malformed, $"A {table.Name} row is in a backup of schema {header.SchemaVersion}, which has no such table.");
                }

                int index = IndexOf(table);
                if (index < tableIndex)
                {
                    throw new BackupException(BackupCodes.Malformed, $"A {table.Name} row comes after rows of a later table.");
                }

                tableIndex = index;
                await sink.RowAsync(table, values).ConfigureAwait(false);
            }
            catch (BackupException ex) when (deferRowErrors)
            {
                deferred = ex;
            }
        }

        if (header is null)
        {
            throw new BackupException(cutShort ? BackupCodes.Truncated : BackupCodes.Malformed, "The file is not an OpenHGS backup (it has no header line).");
        }

        if (cutShort || trailer is null)
        {
            throw new BackupException(BackupCodes.Truncated, "The backup ends before its sealed trailer: the file was cut short.");
        }

        if (dataAfterTrailer)
        {
            throw new BackupException(BackupCodes.SealInvalid, "The backup has data after its sealed trailer.");
        }

        byte[] digest = hash.GetHashAndReset();
        var (sealedRows, sealedDigest, seal) = trailer.Value;
        if (sealedRows != count || !CryptographicOperations.FixedTimeEquals(digest, sealedDigest)
            || !CryptographicOperations.FixedTimeEquals(BackupFormat.Seal(rows, digest, count), seal))
        {
            throw new BackupException(BackupCodes.SealInvalid,
                "The backup's seal does not verify: a line was changed, added or removed since it was made (or it was sealed by another key store).");
        }

        if (deferred is not null)
        {
            throw deferred;
        }

        sink.Complete();
        return new BackupScan(header, digest, count);
    }

    private static int IndexOf(BackupTable table)
    {
        for (int i = 0; i < BackupCatalog.Tables.Count; i++)
        {
            if (BackupCatalog.Tables[i].Name == table.Name)
            {
                return i;
            }
        }

        throw new InvalidOperationException(table.Name);
    }

    /// <summary>The file's lines without their '\n'; the last one is flagged when the file does not end with '\n'.</summary>
    private static async IAsyncEnumerable<(byte[] Line, bool Terminated)> LinesAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[1 << 16];
        var line = new ArrayBufferWriter<byte>();
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            int start = 0;
            while (start < read)
            {
                int newline = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                int end = newline < 0 ? read : newline;
                if (line.WrittenCount + (end - start) > BackupFormat.MaxLineBytes)
                {
                    throw new BackupException(BackupCodes.Malformed, $"A line of the backup is longer than {BackupFormat.MaxLineBytes} bytes.");
                }

                line.Write(buffer.AsSpan(start, end - start));
                if (newline < 0)
                {
                    break;
                }

                yield return (line.WrittenSpan.ToArray(), true);
                line.ResetWrittenCount();
                start = newline + 1;
            }
        }

        if (line.WrittenCount > 0)
        {
            yield return (line.WrittenSpan.ToArray(), false);
        }
    }
}
