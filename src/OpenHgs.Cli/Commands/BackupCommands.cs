using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using OpenHgs.Server.Configuration;
using OpenHgs.Service.Backup;
using OpenHgs.Service.Integrity;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// <c>hgs server backup|restore</c>: the fabric's database to a sealed, database-neutral file and back (docs/backup.md).
/// Both run on a node's data folder (its configuration, key store and database), not through the service.
/// </summary>
internal static class BackupCommands
{
    public static Command Backup()
    {
        var data = CliOptions.RequiredPath("--data", "Initialised data folder (its configuration names the key store and the database).");
        var output = CliOptions.RequiredPath("--out", "Backup file to create (never overwritten).");
        var json = CliOptions.Json();
        var command = new Command("backup", "Write a consistent, sealed backup of the fabric's database; refused when a row MAC or the audit chain does not verify.")
        {
            data, output, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () => WithBackupAsync(parse.GetValue(data)!, async backup =>
        {
            var result = await backup.BackupAsync(parse.GetValue(output)!, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new JsonObject
                {
                    ["file"] = result.Path,
                    ["digest"] = result.Digest,
                    ["rows"] = result.Rows,
                    ["auditRecords"] = result.AuditRecords,
                    ["hsmKeys"] = new JsonArray([.. result.HsmKeys.Select(k => (JsonNode)new JsonObject { ["label"] = k.Label, ["purpose"] = k.Purpose })]),
                });
            }
            else
            {
                CliOutput.Line($"Backup written to {result.Path}: {result.Rows} rows, {result.AuditRecords} audit records, digest {result.Digest}.");
                CliOutput.Line($"It names (never holds) the key store's keys: {string.Join(", ", result.HsmKeys.Select(k => k.Label))}; restore needs a key store holding them.");
            }
        })));
        return command;
    }

    public static Command Restore()
    {
        var data = CliOptions.RequiredPath("--data", "Data folder of the node to restore into (its configuration names the key store and the target database).");
        var input = CliOptions.RequiredPath("--in", "Backup file made by 'hgs server backup'.");
        var replace = new Option<bool>("--replace-existing") { Description = "Replace a target database that already holds a fabric (its whole state and audit trail)." };
        var json = CliOptions.Json();
        var command = new Command("restore", "Verify a backup (seal, key store, row MACs, audit chain) and restore it in one transaction; stop the service first.")
        {
            data, input, replace, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, () => WithBackupAsync(parse.GetValue(data)!, async backup =>
        {
            string file = parse.GetValue(input)!;
            if (!File.Exists(file))
            {
                throw new CliException($"backup file '{file}' does not exist.");
            }

            var result = await backup.RestoreAsync(file, parse.GetValue(replace), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new JsonObject
                {
                    ["digest"] = result.Digest,
                    ["rows"] = result.Rows,
                    ["auditRecords"] = result.AuditRecords,
                    ["backupCreatedAt"] = result.BackupCreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                    ["sourceProvider"] = result.SourceProvider,
                    ["replaced"] = result.Replaced,
                    ["replacedAuditRecords"] = result.ReplacedAuditRecords,
                });
            }
            else
            {
                CliOutput.Line($"Restored {result.Rows} rows and {result.AuditRecords} audit records from the {result.SourceProvider} backup of "
                    + $"{result.BackupCreatedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}"
                    + (result.Replaced ? $", replacing a fabric of {result.ReplacedAuditRecords} audit records." : "."));
            }
        })));
        return command;
    }

    private static async Task<int> WithBackupAsync(string dataOption, Func<ServerStateBackup, Task> body)
    {
        string data = Path.GetFullPath(dataOption);
        var configuration = HgsConfiguration.Load(data);
        using var store = HgsRuntime.OpenKeyStore(configuration, data, production: false, NullLoggerFactory.Instance, TimeProvider.System);
        using var database = HgsRuntime.OpenDatabase(configuration, data, TimeProvider.System, new KeyStoreRowAuthenticator(store));
        await body(new ServerStateBackup(store, database, TimeProvider.System)).ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
