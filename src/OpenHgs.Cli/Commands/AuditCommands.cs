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
                throw new CliException(
                    result.Reason is null or "ChainBroken"
                        ? $"audit chain broken at record {result.FirstBrokenSequence}: {result.Problem}"
                        : $"audit verification failed ({result.Reason}){(result.FirstBrokenSequence is { } at ? $" at record {at}" : string.Empty)}: {result.Problem}",
                    ExitCodes.Refused);
            }
        }));

        var limit = new Option<int>("--limit") { Description = "How many of the newest records.", DefaultValueFactory = _ => 50 };
        audit.Subcommands.Add(Admin("list", "Show the newest audit records.", [limit], async (client, parse, json, ct) =>
        {
            var records = await client.ReadAuditAsync(parse.GetValue(limit), ct).ConfigureAwait(false);
            if (json)
            {
                CliOutput.Json(records, WireJson.Default.ListAuditRecordInfo);
                return;
            }

            foreach (var r in records)
            {
                CliOutput.Line($"{r.Sequence,8} {r.Timestamp:O} {r.Event,-24} {r.Outcome,-8} {r.Subject} {r.Reason}");
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
