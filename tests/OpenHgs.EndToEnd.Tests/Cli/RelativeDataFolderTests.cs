using System.Diagnostics;
using OpenHgs.EndToEnd.Tests.Infrastructure;

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

            int port = ServerProcess.FreePort();
            var start = HgsCli.CreateStartInfo(["server", "run", "--data", "service", "--urls", $"http://127.0.0.1:{port}"], environment: null);
            start.WorkingDirectory = parent;
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(); // drained so the server never blocks on a full pipe
            var errors = process.StandardError.ReadToEndAsync();
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                HttpResponseMessage? ready = null;
                for (var deadline = DateTime.UtcNow.AddSeconds(60); ready is null && DateTime.UtcNow < deadline && !process.HasExited;)
                {
                    try
                    {
                        ready = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                    }
                    catch (HttpRequestException)
                    {
                        await Task.Delay(200);
                    }
                    catch (TaskCanceledException)
                    {
                        await Task.Delay(200);
                    }
                }

                if (process.HasExited)
                {
                    Assert.Fail($"server run exited with {process.ExitCode}: {await errors}{await output}");
                }

                Assert.NotNull(ready);
                Assert.True(ready.IsSuccessStatusCode, $"/healthz answered {(int)ready.StatusCode}");
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }
}
