using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// Issue 9 §3: the data folder is 0700 and its configuration, database, credential and key files 0600 from the start;
/// <c>hgs server run</c> refuses, in one line naming the file and its mode, a configuration or sealing key file that
/// group or others may access.
/// </summary>
public sealed class FileModeCliTests
{
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task Init_and_run_create_every_file_owner_only()
    {
        using var root = new TempFolder("openhgs-modes-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software"], environment: null)).Succeeded();
        Assert.Equal(OwnerFolder, File.GetUnixFileMode(data));
        Assert.Equal(OwnerFolder, File.GetUnixFileMode(Path.Combine(data, "keystore")));
        foreach (string file in new[] { "hgs.json", "hgs.db", "admin.token", "keystore.key" })
        {
            Assert.True(OwnerFile == File.GetUnixFileMode(Path.Combine(data, file)), $"{file}: {File.GetUnixFileMode(Path.Combine(data, file))}");
        }

        Assert.All(Directory.EnumerateFiles(Path.Combine(data, "keystore")), f => Assert.Equal(OwnerFile, File.GetUnixFileMode(f)));

        // SQLite's -wal and -shm files take the database file's mode while the server has it open.
        await using var server = await ServerProcess.StartAsync(data);
        var sqliteFiles = Directory.EnumerateFiles(data, "hgs.db*").ToList();
        Assert.Contains(Path.Combine(data, "hgs.db-wal"), sqliteFiles);
        Assert.All(sqliteFiles, f => Assert.True(OwnerFile == File.GetUnixFileMode(f), $"{f}: {File.GetUnixFileMode(f)}"));
    }

    [Fact]
    public async Task Init_makes_an_existing_folder_owner_only()
    {
        using var root = new TempFolder("openhgs-modes-");
        string data = root["existing"];
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, OwnerFolder | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software"], environment: null)).Succeeded();
        Assert.Equal(OwnerFolder, File.GetUnixFileMode(data));
    }

    [Theory]
    [Trait("Attack", "A74")]
    [InlineData("hgs.json", "0644")]
    [InlineData("hgs.json", "0660")]
    [InlineData("keystore.key", "0640")]
    [InlineData("keystore.key", "0604")]
    public async Task Run_refuses_an_exposed_file_naming_it_and_its_mode(string file, string mode)
    {
        using var root = new TempFolder("openhgs-modes-");
        string data = root["service"];
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--software"], environment: null)).Succeeded();
        string path = Path.Combine(data, file);
        var exposed = (UnixFileMode)Convert.ToInt32(mode, 8);
        File.SetUnixFileMode(path, exposed);
        byte[] content = await File.ReadAllBytesAsync(path);
        DateTime databaseWritten = File.GetLastWriteTimeUtc(Path.Combine(data, "hgs.db"));

        var run = await HgsCli.RunAsync(["server", "run", "--data", data, "--urls", "http://127.0.0.1:0"], environment: null);
        string line = run.FailedWithOneErrorLine(2);
        Assert.Contains($"'{path}' has mode {mode}: group and others must have no access (chmod 600 '{path}')", line, StringComparison.Ordinal);

        // Nothing was changed: not the file, its mode, nor the database.
        Assert.Equal(exposed, File.GetUnixFileMode(path));
        Assert.Equal(content, await File.ReadAllBytesAsync(path));
        Assert.Equal(databaseWritten, File.GetLastWriteTimeUtc(Path.Combine(data, "hgs.db")));
        Assert.False(File.Exists(Path.Combine(data, "hgs.db-wal")));

        // Fixed as the message says, it starts.
        File.SetUnixFileMode(path, OwnerFile);
        await using var server = await ServerProcess.StartAsync(data);
    }
}
