using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Server.Configuration;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Acceptance: <c>hgs server init</c> with SoftHSM2 puts every fabric private key on the token as sensitive and
/// never extractable (as the token itself reports, through <c>pkcs11-tool</c>), and leaves no private key material
/// in the data folder — nor in the database, whether that is the SQLite file in the folder or a PostgreSQL
/// database (<c>--database Host=…</c>).
/// </summary>
public sealed partial class SoftHsmInitCliTests
{
    // PKCS#8 "PrivateKeyInfo": SEQUENCE, INTEGER version 0, then the AlgorithmIdentifier SEQUENCE. With a long-form
    // outer length this is 30 82 xx xx 02 01 00 30 — the start of every DER private key .NET or openssl writes.
    private static readonly byte[] Pkcs8Version = [0x02, 0x01, 0x00, 0x30];

    [Theory]
    [InlineData(DatabaseKind.Sqlite)]
    [InlineData(DatabaseKind.Postgres)]
    public async Task Init_with_softhsm_keeps_every_private_key_on_the_token_and_none_in_the_data_folder(DatabaseKind database)
    {
        using var token = new SoftHsmToken();
        using var folder = new TempFolder();
        string data = folder["service"];
        string? postgres = database == DatabaseKind.Postgres ? PostgresServer.Instance.CreateDatabase("softhsm") : null;
        string[] databaseOptions = postgres is null ? [] : ["--database", postgres];

        // A child process inherits SOFTHSM2_CONF and the PIN variable from this process; they are also passed explicitly.
        var inherited = (await Tool.RunAsync("env")).StdOut.Split('\n');
        Assert.Contains($"{SoftHsmEnvironment.ConfigurationVariable}={SoftHsmEnvironment.ConfigurationFile}", inherited);
        Assert.Contains($"{token.PinEnvironmentVariable}={token.Pin}", inherited);
        var environment = new Dictionary<string, string?>
        {
            [SoftHsmEnvironment.ConfigurationVariable] = SoftHsmEnvironment.ConfigurationFile,
            [token.PinEnvironmentVariable] = token.Pin,
        };

        var init = (await HgsCli.RunAsync(
            ["server", "init", "--data", data, "--hsm-module", token.ModulePath, "--hsm-token", token.TokenLabel, "--hsm-pin-env", token.PinEnvironmentVariable, "--json", .. databaseOptions],
            environment)).Succeeded();
        Assert.Equal("pkcs11", (string?)init.Json()["keyStore"]);
        Assert.False((bool)init.Json()["joined"]!);
        Assert.DoesNotContain(token.Pin, init.StdOut + init.StdErr, StringComparison.Ordinal);

        // The token: exactly four private keys (three fabric keys and the audit checkpoint key), all OpenHGS's, each
        // sensitive and never extractable.
        string listing = token.RunPkcs11Tool("--list-objects");
        var privateKeys = ObjectBlocks(listing).Where(b => b.StartsWith("Private Key Object", StringComparison.Ordinal)).ToList();
        Assert.True(privateKeys.Count == 4, $"expected 4 private keys on the token:\n{listing}");
        var labels = new List<string>();
        foreach (string block in privateKeys)
        {
            string label = LabelLine().Match(block) is { Success: true } m ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException("no label in:\n" + block);
            labels.Add(label);
            Assert.StartsWith("openhgs-", label, StringComparison.Ordinal);
            string access = AccessLine().Match(block) is { Success: true } a ? a.Groups[1].Value : throw new Xunit.Sdk.XunitException("no Access line in:\n" + block);
            var flags = access.Split(',', StringSplitOptions.TrimEntries);
            Assert.Contains("sensitive", flags);
            Assert.Contains("always sensitive", flags);
            Assert.Contains("never extractable", flags);
            Assert.Contains("local", flags);
            Assert.DoesNotContain("extractable", flags);
        }

        Assert.True(labels.Remove(OpenHgs.Service.Audit.AuditCheckpointKey.Label), "no audit checkpoint key on the token");

        // The row-MAC key (issue 8 §4): one secret key on the token, sensitive and never extractable either.
        var secretKeys = ObjectBlocks(listing).Where(b => b.StartsWith("Secret Key Object", StringComparison.Ordinal)).ToList();
        string macKey = Assert.Single(secretKeys);
        Assert.Equal("openhgs-row-mac", LabelLine().Match(macKey).Groups[1].Value);
        var macFlags = (AccessLine().Match(macKey) is { Success: true } macAccess ? macAccess.Groups[1].Value : throw new Xunit.Sdk.XunitException("no Access line in:\n" + macKey))
            .Split(',', StringSplitOptions.TrimEntries);
        Assert.Contains("sensitive", macFlags);
        Assert.Contains("always sensitive", macFlags);
        Assert.Contains("never extractable", macFlags);
        Assert.DoesNotContain("extractable", macFlags);

        // One key per role; the ids init reported are the labels on the token.
        Assert.Equal(new[] { "openhgs-att", "openhgs-enc", "openhgs-sig" }, labels.Select(l => l[..l.LastIndexOf('-')]).Order().ToArray());
        var reportedIds = init.Json()["keys"]!.AsArray().Select(k => "openhgs-" + (string?)k).Order().ToArray();
        Assert.Equal(reportedIds, labels.Order().ToArray());

        // The data folder: configuration, admin credential and (SQLite) the database only; no key store, no key material.
        Assert.False(Directory.Exists(Path.Combine(data, "keystore")), "a software keystore folder exists");
        var files = Directory.EnumerateFileSystemEntries(data, "*", SearchOption.AllDirectories).ToList();
        Assert.All(files, f => Assert.True(File.Exists(f), $"unexpected folder {f}"));
        var allowed = new HashSet<string>(postgres is null ? ["hgs.json", "hgs.db", "hgs.db-wal", "hgs.db-shm", "admin.token"] : ["hgs.json", "admin.token"], StringComparer.Ordinal);
        Assert.All(files, f => Assert.True(allowed.Contains(Path.GetFileName(f)), $"unexpected file {f}"));
        Assert.Contains(Path.Combine(data, "hgs.json"), files);
        Assert.Contains(Path.Combine(data, "admin.token"), files);
        if (postgres is null)
        {
            Assert.Contains(Path.Combine(data, "hgs.db"), files);
        }

        foreach (string file in files)
        {
            AssertNoSecret(file, await File.ReadAllBytesAsync(file), token.Pin);
        }

        // The database (the SQLite file was scanned above as a file; every PostgreSQL cell is scanned here) records
        // exactly the keys on the token, by label, and holds no private key material and no PIN.
        Assert.Equal(labels.Order(StringComparer.Ordinal).ToArray(), await FabricKeyLabelsAsync(data, postgres));
        if (postgres is not null)
        {
            var cells = await PostgresCellsAsync(postgres);
            Assert.Contains(cells, c => c.Column.StartsWith("fabric_keys.certificate", StringComparison.Ordinal));
            Assert.Contains(cells, c => c.Column.StartsWith("audit_log.", StringComparison.Ordinal));
            foreach (var (column, value) in cells)
            {
                AssertNoSecret($"PostgreSQL {column}", value, token.Pin);
            }
        }

        string tokenFile = Path.Combine(data, "admin.token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        Assert.Matches("^\\S{20,}\n?$", await File.ReadAllTextAsync(tokenFile));

        // The configuration names the PIN's source, never the PIN, and the database init was given.
        string configuration = await File.ReadAllTextAsync(Path.Combine(data, "hgs.json"));
        Assert.Contains("env:" + token.PinEnvironmentVariable, configuration, StringComparison.Ordinal);
        Assert.Equal(postgres is null ? "sqlite:hgs.db" : "postgres:" + postgres, HgsConfiguration.Load(data).Database);
    }

    private static void AssertNoSecret(string where, byte[] bytes, string pin)
    {
        string text = Encoding.Latin1.GetString(bytes);
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        Assert.False(ContainsPkcs8Header(bytes), $"{where} holds what looks like a DER PKCS#8 private key");
        Assert.DoesNotContain(pin, text, StringComparison.Ordinal);
    }

    /// <summary>The labels of the fabric keys the service's database records, in order.</summary>
    private static async Task<string[]> FabricKeyLabelsAsync(string data, string? postgres)
    {
        await using DbConnection connection = postgres is null
            ? new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(data, "hgs.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString())
            : new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT label FROM fabric_keys ORDER BY label";
        await using var reader = await command.ExecuteReaderAsync();
        var labels = new List<string>();
        while (await reader.ReadAsync())
        {
            labels.Add(reader.GetString(0));
        }

        return [.. labels.Order(StringComparer.Ordinal)];
    }

    /// <summary>Every non-null cell of every table in the database, as bytes (text as UTF-8), named table.column[row].</summary>
    private static async Task<List<(string Column, byte[] Value)>> PostgresCellsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        var cells = new List<(string, byte[])>();
        foreach (string table in tables)
        {
            await using var select = new NpgsqlCommand($"SELECT * FROM \"{table}\"", connection);
            await using var reader = await select.ExecuteReaderAsync();
            for (int row = 0; await reader.ReadAsync(); row++)
            {
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    object value = reader.GetValue(i);
                    byte[]? bytes = value switch
                    {
                        DBNull => null,
                        byte[] b => b,
                        string t => Encoding.UTF8.GetBytes(t),
                        _ => Encoding.UTF8.GetBytes(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty),
                    };
                    if (bytes is not null)
                    {
                        cells.Add(($"{table}.{reader.GetName(i)}[{row}]", bytes));
                    }
                }
            }
        }

        return cells;
    }

    /// <summary>pkcs11-tool prints one block per object: a header line, then indented attribute lines.</summary>
    private static IEnumerable<string> ObjectBlocks(string listing)
    {
        var current = new StringBuilder();
        foreach (string line in listing.Split('\n'))
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]) && current.Length > 0)
            {
                yield return current.ToString();
                current.Clear();
            }

            current.AppendLine(line);
        }

        if (current.Length > 0)
        {
            yield return current.ToString();
        }
    }

    private static bool ContainsPkcs8Header(byte[] bytes)
    {
        for (int i = 0; i + 8 <= bytes.Length; i++)
        {
            if (bytes[i] == 0x30 && bytes[i + 1] is 0x82 or 0x81 && bytes.AsSpan(i + 2 + (bytes[i + 1] & 0x7f)).StartsWith(Pkcs8Version))
            {
                return true;
            }
        }

        return false;
    }

    [GeneratedRegex(@"^\s*label:\s*(\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex LabelLine();

    [GeneratedRegex(@"^\s*Access:\s*(.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex AccessLine();
}
