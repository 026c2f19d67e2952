using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Protocol.Wire;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Observability;

/// <summary>
/// <c>hgs server run --audit-file PATH</c> (like Vault's file audit device): every record committed after the file was
/// started is copied as one JSON line, identical to the trail (sequence, event, outcome, subject, hash; details as an
/// object), in order, without gaps or repeats across a restart, following a rename-rotation; the file is owner-only;
/// a path that cannot be the sink is refused at start with one error line naming <c>--audit-file</c>.
/// </summary>
public sealed class AuditFileTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Committed_records_are_copied_as_json_lines_across_restart_and_rotation()
    {
        using var root = new TempFolder("openhgs-audit-file-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        string file = root["audit.jsonl"];
        long startHead;

        await using (var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--audit-file", file] }))
        {
            using var admin = new AdminClient([server.Url], token);
            startHead = (await admin.ReadAuditAsync(1, CancellationToken.None)).Single().Sequence;
            await AttestOnceAsync(root, server, admin, "web-01");
            var head = await WaitForFileAsync(admin, file);

            var lines = Lines(file);
            var records = (await admin.QueryAuditAsync(1000, null, null, null, startHead, null, CancellationToken.None)).ToList();
            Assert.Equal(head, records[^1].Sequence);
            Assert.Equal(records.Count, lines.Count);
            foreach (var (record, line) in records.Zip(lines))
            {
                Assert.Equal(
                    (record.Sequence, record.Event, record.Outcome, record.Subject, record.Reason, record.Hash),
                    ((long)line["sequence"]!, (string?)line["event"], (string?)line["outcome"], (string?)line["subject"], (string?)line["reason"], (string?)line["hash"]));
                Assert.Equal(JsonNode.Parse(record.Details)!.ToJsonString(), line["details"]!.ToJsonString());
            }

            Assert.Contains(records, r => r.Event == "attestation.attest" && r.Subject == "web-01" && r.Outcome == "success");
            Assert.Contains(records, r => r.Event == "attestation.attest" && r.Outcome == "refused" && r.Reason == "HostKeyNotRegistered");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.StartsWith("ok (record ", await AuditFileCheckAsync(server), StringComparison.Ordinal);
            Assert.Equal(0, await server.StopAsync());
        }

        // Restarted: continues after the file's last line, with neither a gap nor a repeat.
        await using (var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--audit-file", file] }))
        {
            using var admin = new AdminClient([server.Url], token);
            await AttestOnceAsync(root, server, admin, "web-02");
            await WaitForFileAsync(admin, file);
            AssertContiguous(Lines(file), startHead + 1);

            // Rotated by renaming: the next records go to a new file at the same path, right after the old file's last.
            File.Move(file, file + ".1");
            await AttestOnceAsync(root, server, admin, "web-03");
            await WaitForFileAsync(admin, file);
            var rotated = Lines(file + ".1");
            var current = Lines(file);
            Assert.Equal((long)rotated[^1]["sequence"]! + 1, (long)current[0]["sequence"]!);
            AssertContiguous([.. rotated, .. current], startHead + 1);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    [Trait("Attack", "A151")]
    public async Task A_record_written_with_sql_stays_one_line_and_cannot_add_a_forged_record_to_the_file()
    {
        using var root = new TempFolder("openhgs-audit-file-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        string token = File.ReadAllText(Path.Combine(data, "admin.token")).Trim();
        string file = root["audit.jsonl"];

        await using var server = await ServerProcess.StartAsync(data, new() { Arguments = ["--audit-file", file] });
        using var admin = new AdminClient([server.Url], token);
        await AttestOnceAsync(root, server, admin, "web-01");
        long head = await WaitForFileAsync(admin, file);

        // Whoever can write the database appends a record whose details are one JSON object spread over three lines,
        // the middle one a whole record of its own: a release to a host that never got one.
        const string Forged = "{\"sequence\":999999,\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"event\":\"kps.release\",\"outcome\":\"success\","
            + "\"subject\":\"forged-host\",\"reason\":null,\"details\":{},\"hash\":\"00\"}";
        string details = "{\"note\":[\n" + Forged + "\n]}";
        Assert.Equal(1, await AuditedDataFolder.ExecuteAsync(data,
            "INSERT INTO audit_log (seq, ts, event, outcome, subject, reason, details, prev_hash, hash) VALUES (@s, 0, 'attestation.attest', 'refused', 'sql', NULL, @d, x'00', x'00')",
            ("@s", head + 1), ("@d", details)));

        var deadline = DateTime.UtcNow + WaitLimit;
        while (!File.ReadAllText(file).Contains("forged-host", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{file} did not get record {head + 1} within {WaitLimit.TotalSeconds} s");
            await Task.Delay(100);
        }

        // Still one line per record: the new one is the file's last line, whole, and no line is the forged record.
        var lines = Lines(file);
        Assert.Equal(head + 1, (long)lines[^1]["sequence"]!);
        Assert.Equal("sql", (string?)lines[^1]["subject"]);
        Assert.Equal(JsonNode.Parse(details)!.ToJsonString(), lines[^1]["details"]!.ToJsonString());
        Assert.DoesNotContain(lines, l => (string?)l["subject"] == "forged-host");
        AssertContiguous(lines, (long)lines[0]["sequence"]!);
    }

    [Theory]
    [InlineData("missing-folder")]
    [InlineData("folder")]
    [InlineData("symlink")]
    [InlineData("foreign-file")]
    public async Task A_path_that_cannot_be_the_audit_file_is_refused_at_start(string kind)
    {
        using var root = new TempFolder("openhgs-audit-file-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software", "--json"], environment: null)).Succeeded();
        string path = kind switch
        {
            "missing-folder" => root["no-such-folder/audit.jsonl"],
            "folder" => Directory.CreateDirectory(root["a-folder"]).FullName,
            "symlink" => File.CreateSymbolicLink(root["link.jsonl"], root["target.jsonl"]).FullName,
            _ => root["syslog"],
        };
        if (kind == "symlink")
        {
            File.WriteAllText(root["target.jsonl"], string.Empty);
        }

        if (kind == "foreign-file")
        {
            File.WriteAllText(path, "Dec  6 08:00:00 host kernel: not an audit record\n");
        }

        var result = await HgsCli.RunAsync(["server", "run", "--data", data, "--urls", "http://127.0.0.1:" + ServerProcess.FreePort(), "--audit-file", path], environment: null);
        string error = result.FailedWithOneErrorLine(2);
        Assert.Contains("--audit-file", error, StringComparison.Ordinal);
        Assert.Contains(kind switch
        {
            "missing-folder" => "its folder does not exist",
            "folder" => "is a folder",
            "symlink" => "is a symbolic link",
            _ => "is not an audit record written by OpenHGS",
        }, error, StringComparison.Ordinal);
    }

    /// <summary>One host that attests and passes, and one key nobody registered that is refused.</summary>
    private static async Task AttestOnceAsync(TempFolder root, ServerProcess server, AdminClient admin, string name)
    {
        foreach (bool register in new[] { true, false })
        {
            string keys = root[$"keys-{name}-{register}"];
            Directory.CreateDirectory(keys);
            string publicKey = File.ReadAllText(HostKeyPair.Generate(keys));
            if (register)
            {
                await admin.AddHostKeyAsync(name, publicKey, CancellationToken.None);
            }

            string state = root[$"state-{name}-{register}"];
            new ClientConfiguration([server.Url], [server.Url], keys).Save(state);
            using var client = new GuardedHostClient(state);
            Assert.Equal(register, (await client.AttestAsync(CancellationToken.None)).Passed);
        }
    }

    /// <summary>Waits until the file's last line is the trail's newest record; returns that sequence.</summary>
    private static async Task<long> WaitForFileAsync(AdminClient admin, string file)
    {
        long head = (await admin.ReadAuditAsync(1, CancellationToken.None)).Single().Sequence;
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!File.Exists(file) || Lines(file) is not { Count: > 0 } lines || (long)lines[^1]["sequence"]! < head)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"{file} did not reach record {head} within {WaitLimit.TotalSeconds} s");
            }

            await Task.Delay(100);
        }

        return head;
    }

    private static List<JsonNode> Lines(string file) =>
        File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();

    private static void AssertContiguous(List<JsonNode> lines, long first)
    {
        var sequences = lines.Select(l => (long)l["sequence"]!).ToList();
        Assert.Equal(Enumerable.Range(0, sequences.Count).Select(i => first + i), sequences);
    }

    private static async Task<string?> AuditFileCheckAsync(ServerProcess server)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(server.Url + "/healthz"));
        var health = System.Text.Json.JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(), WireJson.Default.HealthReport)!;
        return health.Checks["auditFile"];
    }
}
