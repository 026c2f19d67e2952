using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenHgs.Server.Configuration;
using OpenHgs.Storage;

namespace OpenHgs.Server.Hosting;

/// <summary><c>hgs server run --audit-file PATH</c>: where committed audit records are copied as JSON lines.</summary>
/// <param name="Path">The file (created owner-only; its folder must exist; never a symbolic link).</param>
/// <param name="Interval">How often the trail is read for new records.</param>
public sealed record AuditFileOptions(string Path, TimeSpan Interval)
{
    public static TimeSpan DefaultInterval { get; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The options for <paramref name="path"/>, refused (naming <c>--audit-file</c>) when it cannot be the sink.</summary>
    public static AuditFileOptions Validate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(System.IO.Path.GetDirectoryName(full)))
        {
            throw new HgsConfigurationException("auditFile", $"--audit-file {path}: its folder does not exist.");
        }

        if (Directory.Exists(full))
        {
            throw new HgsConfigurationException("auditFile", $"--audit-file {path}: is a folder, not a file.");
        }

        if (File.Exists(full) && new FileInfo(full).LinkTarget is not null)
        {
            throw new HgsConfigurationException("auditFile", $"--audit-file {path}: is a symbolic link; name the file itself.");
        }

        var validated = new AuditFileOptions(full, DefaultInterval);
        try
        {
            validated.LastSequenceInFile();
        }
        catch (IOException ex)
        {
            throw new HgsConfigurationException("auditFile", $"--audit-file {path}: {ex.Message}");
        }

        return validated;
    }

    /// <summary>The <c>sequence</c> of the file's last line; null for a missing or empty file; throws <see cref="IOException"/> when that line is not an audit record.</summary>
    internal long? LastSequenceInFile()
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (stream.Length == 0)
        {
            return null;
        }

        // Read back from the end to the start of the last complete line.
        int tail = (int)Math.Min(stream.Length, 64 * 1024);
        stream.Seek(-tail, SeekOrigin.End);
        var buffer = new byte[tail];
        stream.ReadExactly(buffer);
        string text = Encoding.UTF8.GetString(buffer).TrimEnd('\n');
        string line = text[(text.LastIndexOf('\n') + 1)..];
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.GetProperty("sequence").GetInt64();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new IOException($"the last line of {Path} is not an audit record written by OpenHGS ({ex.Message.Split('.')[0]}); move the file away to start a new one.");
        }
    }
}

/// <summary>What the sink has done, swapped whole (read by <c>/healthz</c>).</summary>
/// <param name="LastSequence">The newest record written to the file.</param>
/// <param name="LastError">Why the last write failed; null after a success.</param>
public sealed record AuditFileStatus(long LastSequence, string? LastError);

/// <summary>
/// Copies every committed audit record to a file as one JSON line (like Vault's file audit device), for log shippers and
/// SIEMs. Security contract: the database trail stays the record of truth and the one that fails closed; this copy
/// follows it, so it holds only records that committed, in sequence order, at least once (a line may repeat after a
/// failed write; consumers deduplicate by <c>sequence</c>). It never holds secrets (audit records never do). It continues
/// after the file's last line when the service restarts, and after the current head for a new or empty file; rotation by
/// rename or truncation is followed because every batch reopens the path. A failed write is logged (event 1920) and
/// retried; <c>/healthz</c> reports how far the file is.
/// </summary>
internal sealed partial class AuditFileSink(AuditFileOptions options, IHgsDatabase database, TimeProvider time, ILogger<AuditFileSink> logger) : BackgroundService
{
    private const int BatchSize = 1000;

    private AuditFileStatus _status = new(0, null);

    public AuditFileStatus Status => Volatile.Read(ref _status);

    public string Path => options.Path;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        long? after = null;
        using var timer = new PeriodicTimer(options.Interval, time);
        try
        {
            do
            {
                if (after is null)
                {
                    try
                    {
                        after = await StartingPointAsync(stoppingToken).ConfigureAwait(false);
                        LogStarted(logger, options.Path, after.Value);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DatabaseUnavailableException)
                    {
                        Fail(0, ex.Message);
                        continue;
                    }
                }

                after = await CopyAsync(after.Value, stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the next start continues after the file's last line.
        }
    }

    /// <summary>Copies what committed after <paramref name="after"/>; returns the new position (unchanged when the write failed).</summary>
    private async Task<long> CopyAsync(long after, CancellationToken cancellationToken)
    {
        while (true)
        {
            List<AuditEntry> batch;
            try
            {
                batch = await database.ReadAsync(s => s.Audit.ReadAsync(after, BatchSize), cancellationToken).ConfigureAwait(false);
            }
            catch (DatabaseUnavailableException ex)
            {
                Fail(after, ex.Message);
                return after;
            }

            if (batch.Count == 0)
            {
                return after;
            }

            try
            {
                Append(batch);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Fail(after, ex.Message);
                return after;
            }

            after = batch[^1].Sequence;
            Volatile.Write(ref _status, new AuditFileStatus(after, null));
            if (batch.Count < BatchSize)
            {
                return after;
            }
        }
    }

    private void Fail(long after, string error)
    {
        var previous = Status;
        if (previous.LastError != error)
        {
            LogFailed(logger, options.Path, after, error);
        }

        Volatile.Write(ref _status, new AuditFileStatus(after, error));
    }

    /// <summary>One write of whole lines, flushed to the disk, so a reader never sees half a batch unless the disk filled.</summary>
    private void Append(List<AuditEntry> batch)
    {
        var text = new StringBuilder();
        foreach (var entry in batch)
        {
            text.Append(ToLine(entry)).Append('\n');
        }

        using var stream = Open();
        stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
        stream.Flush(flushToDisk: true);
    }

    private FileStream Open() => new(options.Path, new FileStreamOptions
    {
        Mode = FileMode.Append,
        Access = FileAccess.Write,
        Share = FileShare.Read,
        UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
    });

    /// <summary>After the file's last line, or after the current head for a file that does not exist or is empty.</summary>
    private async Task<long> StartingPointAsync(CancellationToken cancellationToken)
    {
        if (options.LastSequenceInFile() is { } last)
        {
            return last;
        }

        var (head, _) = await database.ReadAsync(s => s.Audit.ReadHeadAsync(lockRow: false), cancellationToken).ConfigureAwait(false);
        return head;
    }

    /// <summary>One record as a JSON object: the fields of <c>hgs audit list --json</c>, with the details as an object.</summary>
    internal static string ToLine(AuditEntry entry)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("sequence", entry.Sequence);
            w.WriteString("timestamp", entry.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WriteString("event", entry.Event);
            w.WriteString("outcome", entry.Outcome);
            w.WriteString("subject", entry.Subject);
            w.WriteString("reason", entry.Reason);
            w.WritePropertyName("details");
            using (var details = ParseObject(entry.Details))
            {
                if (details is not null)
                {
                    // Written anew, not copied raw: a row written outside OpenHGS may spread its object over several
                    // lines, and a whole line of it would read as a record of its own (design change 84).
                    details.RootElement.WriteTo(w);
                }
                else
                {
                    w.WriteStringValue(entry.Details);   // a row written outside OpenHGS: kept, as text
                }
            }

            w.WriteString("hash", Convert.ToHexStringLower(entry.Hash));
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The details as a JSON object; null when they are not one.</summary>
    private static JsonDocument? ParseObject(string text)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }

        if (json.RootElement.ValueKind == JsonValueKind.Object)
        {
            return json;
        }

        json.Dispose();
        return null;
    }

    [LoggerMessage(EventId = 1921, Level = LogLevel.Information, Message = "Audit records are copied to {Path} from after record {Sequence}")]
    private static partial void LogStarted(ILogger logger, string path, long sequence);

    [LoggerMessage(EventId = 1920, Level = LogLevel.Error, Message = "Audit file {Path} cannot be written after record {Sequence} (retrying; the database trail is unaffected): {Error}")]
    private static partial void LogFailed(ILogger logger, string path, long sequence, string error);
}
