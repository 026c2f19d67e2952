using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OpenHgs.Client;
using OpenHgs.Protocol.Wire;

namespace OpenHgs.Cli.Commands;

/// <summary><c>hgs audit</c>: verify the chain against the signed checkpoints, list records, export a checkpoint.</summary>
internal static class AuditCommands
{
    private const int MaxCheckpointFileBytes = 64 * 1024;
    private static readonly TimeSpan FollowInterval = TimeSpan.FromSeconds(1);

    /// <summary><c>--since</c>: an ISO 8601 instant, or a duration back from <paramref name="now"/> (30m, 8h, 2d).</summary>
    internal static DateTimeOffset ParseSince(string text, DateTimeOffset now)
    {
        if (text.Length > 1 && char.IsAsciiDigit(text[0]) && text[^1] is 'm' or 'h' or 'd'
            && int.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out int amount))
        {
            return now - (text[^1] switch { 'm' => TimeSpan.FromMinutes(amount), 'h' => TimeSpan.FromHours(amount), _ => TimeSpan.FromDays(amount) });
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant)
            ? instant
            : throw new CliException($"--since '{text}' is neither an ISO 8601 instant nor a duration such as 30m, 8h or 2d.");
    }

    private static void PrintRecord(AuditRecordInfo r) =>
        CliOutput.Line($"{r.Sequence,8} {r.Timestamp:O} {r.Event,-24} {r.Outcome,-8} {r.Subject} {r.Reason}");

    public static Command Audit()
    {
        var audit = new Command("audit", "The tamper-evident audit trail.");
        var checkpointFile = CliOptions.Path("--checkpoint", "A checkpoint file from 'hgs audit checkpoint export': the chain must still hold it exactly.");
        audit.Subcommands.Add(Admin("verify", "Verify the hash chain and the signed checkpoints; non-zero exit naming what was tampered with.", [checkpointFile], async (client, parse, json, ct) =>
        {
            var result = parse.GetValue(checkpointFile) is { } path
                ? await client.VerifyAuditAsync(ReadCheckpoint(path), ct).ConfigureAwait(false)
                : await client.VerifyAuditAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(result, WireJson.Default.AuditVerifyResult);
            }
            else
            {
                PrintSummary(result);
            }

            if (!result.Valid)
            {
                throw CliErrors.AfterResult(new CliException(
                    result.Reason is null or "ChainBroken"
                        ? $"audit chain broken at record {result.FirstBrokenSequence}: {result.Problem}"
                        : $"audit verification failed ({result.Reason}){(result.FirstBrokenSequence is { } at ? $" at record {at}" : string.Empty)}: {result.Problem}",
                    ExitCodes.Refused), json);
            }
        }));

        audit.Subcommands.Add(Admin("rows", "Check every security-relevant row against its MAC and the audit trail; non-zero exit naming each row that fails.", [], async (client, parse, json, ct) =>
        {
            var report = await client.VerifyRowsAsync(ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(report, WireJson.Default.RowIntegrityReport);
            }
            else
            {
                CliOutput.Line($"{report.Rows} rows checked; {report.Findings.Count} fail their integrity check.");
                foreach (var finding in report.Findings)
                {
                    CliOutput.Line($"  {finding.Problem,-10} {finding.Table}/{finding.Key}: {finding.Message}");
                }
            }

            if (!report.Valid)
            {
                throw CliErrors.AfterResult(new CliException(
                    $"{report.Findings.Count} row(s) fail their integrity check, first {report.Findings[0].Table}/{report.Findings[0].Key} ({report.Findings[0].Problem})",
                    ExitCodes.Refused), json);
            }
        }));

        var limit = new Option<int>("--limit") { Description = "How many of the newest records.", DefaultValueFactory = _ => 50 };
        var since = new Option<string>("--since") { Description = "Only records from this instant (ISO 8601) or this long ago (e.g. 30m, 8h, 2d)." };
        var auditEvent = new Option<string>("--event") { Description = "Only this event (e.g. keyprotection.release), or every event with a prefix: 'attestation.*'." };
        var subject = new Option<string>("--subject") { Description = "Only records about this subject (a host name, key id, …)." };
        var outcome = new Option<string>("--outcome") { Description = "Only records with this outcome: success, refused or error (several comma-separated, e.g. refused,error)." };
        var follow = new Option<bool>("--follow") { Description = "Keep printing matching records as they are written, oldest first, until interrupted (with --json: one JSON object per line)." };
        audit.Subcommands.Add(Admin("list", "Show the newest audit records, filtered; --follow keeps reading.", [limit, since, auditEvent, subject, outcome, follow], async (client, parse, json, ct) =>
        {
            int count = parse.GetValue(limit);
            if (count is < 1 or > 10_000)
            {
                throw new CliException("--limit must be from 1 to 10000.");
            }

            DateTimeOffset? from = parse.GetValue(since) is { } text ? ParseSince(text, DateTimeOffset.UtcNow) : null;
            string? ev = parse.GetValue(auditEvent);
            string? about = parse.GetValue(subject);
            string? outcomes = parse.GetValue(outcome);
            var newestFirst = await client.QueryAuditAsync(count, from, ev, about, afterSequence: null, outcomes, ct).ConfigureAwait(false);
            if (!parse.GetValue(follow))
            {
                if (json)
                {
                    CliOutput.Json(newestFirst, WireJson.Default.ListAuditRecordInfo);
                    return;
                }

                newestFirst.ForEach(PrintRecord);
                return;
            }

            // Following: what exists, oldest first, then every new record as it is committed, until Ctrl+C.
            Action<AuditRecordInfo> print = json ? r => CliOutput.Line(JsonSerializer.Serialize(r, WireJson.Default.AuditRecordInfo)) : PrintRecord;
            long after = newestFirst.Count > 0 ? newestFirst.Max(r => r.Sequence) : 0;
            if (newestFirst.Count == 0 && from is null)
            {
                after = (await client.QueryAuditAsync(1, null, null, null, null, null, ct).ConfigureAwait(false)).Select(r => r.Sequence).FirstOrDefault();
            }

            newestFirst.AsEnumerable().Reverse().ToList().ForEach(print);
            Console.Out.Flush();
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(FollowInterval, ct).ConfigureAwait(false);
                    var next = await client.QueryAuditAsync(1000, from, ev, about, after, outcomes, ct).ConfigureAwait(false);
                    foreach (var record in next)
                    {
                        print(record);
                        after = record.Sequence;
                    }

                    Console.Out.Flush();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Interrupted: following ends normally.
            }
        }));

        var checkpoint = new Command("checkpoint", "Signed audit checkpoints.");
        var output = CliOptions.RequiredPath("--out", "File to write the newest signed checkpoint to (keep it outside the database).");
        checkpoint.Subcommands.Add(Admin("export", "Export the newest signed audit checkpoint and the checkpoint key's identity.", [output], async (client, parse, json, ct) =>
        {
            var file = await client.ExportAuditCheckpointAsync(ct).ConfigureAwait(false);
            CliOutput.WritePublicFile(parse.GetValue(output)!, JsonSerializer.SerializeToUtf8Bytes(file, WireJson.Default.AuditCheckpointFile));
            if (json)
            {
                CliOutput.Json(file, WireJson.Default.AuditCheckpointFile);
                return;
            }

            CliOutput.Line($"Audit checkpoint of record {file.Sequence} (signed at {Time(file.SignedAt)}, key {file.KeyId[..16]}) written to {parse.GetValue(output)}.");
        }));
        audit.Subcommands.Add(checkpoint);
        return audit;
    }

    private static void PrintSummary(AuditVerifyResult result)
    {
        if (result.Valid)
        {
            CliOutput.Line($"Audit chain valid: {result.Records} records, head {result.HeadHash}.");
        }

        CliOutput.Line(result.Checkpoint is { } newest
            ? $"Newest signed checkpoint: record {newest.Sequence}, signed at {Time(newest.SignedAt)} ({newest.Source})."
            : "No signed checkpoint matches the chain yet.");
        if (result.UnsignedTail is { Records: > 0 } tail && !tail.Stale)
        {
            CliOutput.Line($"Warning (not a failure): {tail.Records} records after the newest checkpoint are not signed yet (oldest at {Time(tail.OldestAt)}); the service signs them within seconds.");
        }

        foreach (var finding in result.Findings ?? [])
        {
            CliOutput.Line($"Finding {finding.Code}{(finding.Source is null ? string.Empty : $" ({finding.Source} checkpoint)")} at record {finding.Sequence}: {finding.Detail}");
        }
    }

    private static AuditCheckpointFile ReadCheckpoint(string path)
    {
        byte[] bytes = CliOutput.ReadFile(path, "checkpoint file", MaxCheckpointFileBytes);
        try
        {
            return JsonSerializer.Deserialize(bytes, WireJson.Default.AuditCheckpointFile)
                ?? throw new CliException($"checkpoint file '{path}' is JSON null.");
        }
        catch (JsonException ex)
        {
            throw new CliException($"checkpoint file '{path}' is not an audit checkpoint export: {ex.Message.Split('.')[0]}.");
        }
    }

    private static string Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture) ?? "?";

    private static Command Admin(string name, string description, Symbol[] symbols, Func<AdminClient, ParseResult, bool, CancellationToken, Task> body) =>
        AdminCommands.Admin(name, description, symbols, (urls, token, tls) => new AdminClient(urls, token, tls), body);
}
