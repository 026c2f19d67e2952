using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Packaging;

/// <summary>
/// Runs <c>scripts/publish.sh --out TEMP</c> once for the test class (it builds both editions from the source tree:
/// minutes on a small machine) and unpacks each tarball into its own empty folder, as an operator would.
/// </summary>
public sealed class PublishedArtefacts : IAsyncLifetime
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(40);

    public string Root { get; } = Directory.CreateTempSubdirectory("openhgs-publish-").FullName;

    public string Dist => Path.Combine(Root, "dist");

    /// <summary>The unpacked server tarball's folder (holds <c>hgs</c>, <c>VERSION</c>, <c>SHA256SUMS</c>).</summary>
    public string Server => Path.Combine(Root, "server", "openhgs-server-linux-x64");

    /// <summary>The unpacked guarded-host tarball's folder.</summary>
    public string Host => Path.Combine(Root, "host", "openhgs-host-linux-x64");

    public TimeSpan PublishDuration { get; private set; }

    public async Task InitializeAsync()
    {
        // A developer loop may point OPENHGS_TEST_DIST at the output of an earlier './hgs publish --out DIR' to test
        // those tarballs without publishing again; ./test.sh leaves it unset and publishes.
        if (Environment.GetEnvironmentVariable("OPENHGS_TEST_DIST") is { Length: > 0 } existing)
        {
            foreach (string name in new[] { "openhgs-server-linux-x64.tar.gz", "openhgs-host-linux-x64.tar.gz" })
            {
                Directory.CreateDirectory(Dist);
                File.Copy(Path.Combine(existing, name), Path.Combine(Dist, name));
                File.Copy(Path.Combine(existing, name + ".sha256"), Path.Combine(Dist, name + ".sha256"));
            }

            Unpack("openhgs-server-linux-x64.tar.gz", Path.Combine(Root, "server"));
            Unpack("openhgs-host-linux-x64.tar.gz", Path.Combine(Root, "host"));
            return;
        }

        string script = Path.Combine(RepositoryFolder.Root, "scripts", "publish.sh");
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--out");
        start.ArgumentList.Add(Dist);
        var watch = Stopwatch.StartNew();
        using var publish = Process.Start(start)!;
        var stdout = publish.StandardOutput.ReadToEndAsync();
        var stderr = publish.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(PublishTimeout))
        {
            try
            {
                await publish.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                publish.Kill(entireProcessTree: true);
                throw;
            }
        }

        PublishDuration = watch.Elapsed;
        if (publish.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/publish.sh exited with {publish.ExitCode}:\n{await stdout}\n{await stderr}");
        }

        Unpack("openhgs-server-linux-x64.tar.gz", Path.Combine(Root, "server"));
        Unpack("openhgs-host-linux-x64.tar.gz", Path.Combine(Root, "host"));
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the OS cleans temporary folders.
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Runs an unpacked <c>hgs</c> with nothing of .NET around it: the environment is emptied (no DOTNET_ROOT, no
    /// DOTNET_* variables of the test host) and PATH is an empty folder, so no <c>dotnet</c> can be found.
    /// </summary>
    public static ProcessStartInfo Bare(string folder, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(Path.Combine(folder, "hgs"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = folder,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        string emptyPath = Path.Combine(Path.GetTempPath(), "openhgs-empty-path");
        Directory.CreateDirectory(emptyPath);
        start.Environment["PATH"] = emptyPath;
        start.Environment["HOME"] = folder;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    public static async Task<CliResult> RunBareAsync(string folder, params string[] arguments) =>
        await RunBareAsync(folder, null, arguments);

    public static async Task<CliResult> RunBareAsync(string folder, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        using var process = Process.Start(Bare(folder, arguments, environment))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(HgsCli.DefaultTimeout);
        await process.WaitForExitAsync(timeout.Token);
        return new CliResult($"{Path.GetFileName(folder)}/hgs {string.Join(' ', arguments)}", process.ExitCode, await stdout, await stderr);
    }

    private void Unpack(string tarball, string into)
    {
        Directory.CreateDirectory(into);
        Assert.Empty(Directory.EnumerateFileSystemEntries(into));
        using var file = File.OpenRead(Path.Combine(Dist, tarball));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        TarFile.ExtractToDirectory(gzip, into, overwriteFiles: false);
    }
}
