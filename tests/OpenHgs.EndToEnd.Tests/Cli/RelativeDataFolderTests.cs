using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// <c>--data</c> given relative to the current folder, as an operator types it. <c>server run</c> used to fail with
/// "Basepath argument is not fully qualified" because the SQLite file's path was built from the relative folder. The
/// bug is in the embedded database's path handling, so this runs on SQLite only.
/// </summary>
public sealed class RelativeDataFolderTests
{
    [Fact]
    public async Task Server_init_and_run_accept_a_data_folder_relative_to_the_current_folder()
    {
        string parent = Directory.CreateTempSubdirectory("openhgs-relative-").FullName;
        try
        {
            (await HgsCli.RunAsync(["server", "init", "--data", "service", "--software"], environment: null, workingDirectory: parent)).Succeeded();
            Assert.True(File.Exists(Path.Combine(parent, "service", "hgs.json")), "init did not create the folder under the current folder");

            // The relative folder is resolved against the server's current folder, the parent.
            await using (var server = await ServerProcess.StartAsync("service", new() { WorkingDirectory = parent }))
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
                using var ready = await http.GetAsync(new Uri($"{server.Url}/healthz"));
                Assert.True(ready.IsSuccessStatusCode, $"/healthz answered {(int)ready.StatusCode}\n{server.Output}");
            }
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }
}
