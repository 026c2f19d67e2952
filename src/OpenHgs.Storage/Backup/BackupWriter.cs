using System.Security.Cryptography;
using System.Text.Json;

namespace OpenHgs.Storage.Backup;

/// <summary>
/// Writes a backup file (<see cref="BackupFormat"/>): the header, the rows, then the sealed trailer. The file is created
/// new with owner-only permissions; <see cref="CompleteAsync"/> flushes it to disk. A writer disposed before completing
/// leaves an unsealed file, which every restore refuses (<see cref="BackupCodes.Truncated"/>).
/// </summary>
public sealed class BackupWriter : IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly MemoryStream _line = new();
    private long _rows;

    public BackupWriter(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        _file = new FileStream(path, options);
    }

    /// <summary>How many rows were written.</summary>
    public long Rows => _rows;

    public Task WriteHeaderAsync(BackupHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        return WriteLineAsync(JsonSerializer.SerializeToUtf8Bytes(BackupFormat.HeaderJson(header)));
    }

    public Task WriteRowAsync(BackupTable table, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(values);
        _line.SetLength(0);
        using (var writer = new Utf8JsonWriter(_line))
        {
            BackupFormat.WriteRow(writer, table, values);
        }

        _rows++;
        return WriteLineAsync(_line.ToArray());
    }

    /// <summary>Writes the trailer sealed with <paramref name="rows"/> (the row-MAC key) and flushes the file to disk; returns the digest.</summary>
    public async Task<byte[]> CompleteAsync(IRowAuthenticator rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        byte[] digest = _digest.GetHashAndReset();
        byte[] trailer = BackupFormat.TrailerLine(_rows, digest, BackupFormat.Seal(rows, digest, _rows));
        await _file.WriteAsync(trailer, cancellationToken).ConfigureAwait(false);
        await _file.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        _file.Flush(flushToDisk: true);
        return digest;
    }

    public async ValueTask DisposeAsync()
    {
        await _file.DisposeAsync().ConfigureAwait(false);
        _digest.Dispose();
        await _line.DisposeAsync().ConfigureAwait(false);
    }

    private async Task WriteLineAsync(byte[] line)
    {
        _digest.AppendData(line);
        _digest.AppendData("\n"u8);
        await _file.WriteAsync(line).ConfigureAwait(false);
        await _file.WriteAsync("\n"u8.ToArray()).ConfigureAwait(false);
    }
}
