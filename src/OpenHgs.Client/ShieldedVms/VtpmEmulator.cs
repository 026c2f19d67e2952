using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using OpenHgs.Crypto;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>A vTPM operation that failed; <see cref="Code"/> is stable (docs/shielded-vms.md).</summary>
public sealed class VtpmException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>
/// swtpm, the vTPM of a shielded VM. Security contract: the vTPM state is encrypted by swtpm (<see cref="Cipher"/>, with
/// swtpm's HMAC over the state, so a wrong key is refused rather than read as garbage) under the VM's transport key from
/// its first write; the key reaches swtpm only through an inherited pipe (file descriptor 3), never as a file, an
/// argument or an environment variable, and is never logged.
/// </summary>
public static class VtpmEmulator
{
    public const string Emulator = "swtpm";

    /// <summary>swtpm's state cipher for a 256-bit key.</summary>
    public const string Cipher = "aes-256-cbc";

    /// <summary>The permanent state file swtpm keeps in its state folder.</summary>
    public const string StateFile = "tpm2-00.permall";

    private const int KeyBytes = 32;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Manufactures a fresh TPM 2.0 in the empty folder <paramref name="stateDirectory"/> (RSA and ECC endorsement keys,
    /// SHA-256 PCR bank), its state encrypted under <paramref name="transportKey"/>. Throws <see cref="VtpmException"/>:
    /// <c>VtpmUnavailable</c> without swtpm, <c>VtpmManufactureFailed</c> when swtpm_setup fails.
    /// </summary>
    public static void Manufacture(string stateDirectory, ReadOnlySpan<byte> transportKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        if (transportKey.Length != KeyBytes)
        {
            throw new ArgumentException($"A transport key has {KeyBytes} bytes.", nameof(transportKey));
        }

        // swtpm_setup reads the key as hex from the descriptor and hands it to swtpm the same way.
        byte[] hex = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(transportKey) + "\n");
        try
        {
            var (exitCode, error) = RunWithKeys("swtpm_setup",
                ["--tpm2", "--tpmstate", stateDirectory, "--keyfile-fd", "3", "--cipher", Cipher, "--createek", "--not-overwrite"], [hex]);
            if (exitCode != 0 || !File.Exists(Path.Combine(stateDirectory, StateFile)))
            {
                throw new VtpmException("VtpmManufactureFailed", $"swtpm_setup could not create the vTPM state (exit {exitCode}): {LastLines(error)}");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(hex);
        }
    }

    /// <summary>
    /// Starts swtpm as a daemon on the encrypted state in <paramref name="stateDirectory"/>, reachable through
    /// <paramref name="channel"/>, its pid in <paramref name="pidFile"/>. The state is opened (and its HMAC checked) before
    /// swtpm detaches, so a wrong key or a damaged state is refused here (<c>VtpmStateRefused</c>) and never leaves a
    /// running vTPM. Returns the daemon's pid.
    /// </summary>
    public static int Start(string stateDirectory, ReadOnlySpan<byte> transportKey, VtpmChannel channel, string pidFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentException.ThrowIfNullOrEmpty(pidFile);
        RequireKey(transportKey);
        var arguments = new List<string>
        {
            // The migration key encrypts what the control channel exports (QEMU's migration, swtpm_ioctl --save):
            // without it swtpm hands the state out in clear to whoever reaches the socket.
            "socket", "--tpm2", "--tpmstate", "dir=" + Path.GetFullPath(stateDirectory), "--key", KeyOption(3), "--migration-key", KeyOption(4),
            "--daemon", "--pid", "file=" + Path.GetFullPath(pidFile),
        };
        arguments.AddRange(channel.SwtpmArguments());
        byte[] key = transportKey.ToArray();
        int exitCode;
        string error;
        try
        {
            (exitCode, error) = RunWithKeys("swtpm", arguments, [key, key]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        if (exitCode != 0 && error.Contains("Address already in use", StringComparison.Ordinal))
        {
            // Not the state's fault: another program holds the port (the control channel is the next one) or socket.
            throw new VtpmException("VtpmChannelInUse", $"{channel} (or its control channel) is already in use by another program: choose another --tcp-port or --socket; no vTPM was started.");
        }

        if (exitCode != 0)
        {
            throw new VtpmException("VtpmStateRefused", error.Contains("HMAC", StringComparison.Ordinal)
                ? $"the key does not open the vTPM state in {stateDirectory} (swtpm's HMAC check failed): a wrong transport key or a damaged state; no vTPM was started."
                : $"swtpm did not start on the vTPM state in {stateDirectory} (exit {exitCode}): {LastLines(error)}");
        }

        return ReadPid(pidFile);
    }

    /// <summary>
    /// Shuts the swtpm behind <paramref name="channel"/> down (it saves its state, encrypted, and exits) and waits for
    /// process <paramref name="pid"/> to end. Throws <c>VtpmStopFailed</c> when it cannot be reached or does not end.
    /// </summary>
    public static void Stop(VtpmChannel channel, int pid)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var (exitCode, error) = Run("swtpm_ioctl", [.. channel.IoctlArguments(), "-s"]);
        if (exitCode != 0)
        {
            throw new VtpmException("VtpmStopFailed", $"swtpm_ioctl could not shut the vTPM down through {channel} (exit {exitCode}): {LastLines(error)}");
        }

        WaitForExit(pid);
    }

    /// <summary>
    /// Re-encrypts the state in <paramref name="stateDirectory"/> (under <paramref name="transportKey"/>) into the new
    /// folder <paramref name="targetDirectory"/> under <paramref name="egressTransportKey"/>, through swtpm alone: an
    /// instance on the old state exports its permanent state encrypted with the egress key (swtpm's migration key), a
    /// second instance on the new folder imports it and stores it under the egress key. Neither key nor the clear state
    /// touches a disk; the exported blob (encrypted) lives in a private temporary folder only while this runs.
    /// Throws <c>VtpmResealFailed</c>.
    /// </summary>
    public static void Reseal(string stateDirectory, ReadOnlySpan<byte> transportKey, string targetDirectory, ReadOnlySpan<byte> egressTransportKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        ArgumentException.ThrowIfNullOrEmpty(targetDirectory);
        RequireKey(transportKey);
        RequireKey(egressTransportKey);
        var work = Directory.CreateTempSubdirectory("openhgs-reseal-");
        byte[] ingress = transportKey.ToArray();
        byte[] egress = egressTransportKey.ToArray();
        try
        {
            string blob = Path.Combine(work.FullName, "permanent.blob");
            var export = new VtpmChannel(Path.Combine(work.FullName, "export.sock"), null);
            int exporter = StartForReseal(stateDirectory, export, Path.Combine(work.FullName, "export.pid"), [ingress, egress], needInit: false);
            RunIoctl(export, "--save", "permanent", blob);
            Stop(export, exporter);

            OwnerOnlyFile.CreateDirectory(targetDirectory);
            var import = new VtpmChannel(Path.Combine(work.FullName, "import.sock"), null);
            int importer = StartForReseal(targetDirectory, import, Path.Combine(work.FullName, "import.pid"), [egress, egress], needInit: true);
            RunIoctl(import, "--load", "permanent", blob);
            RunIoctl(import, "-i");
            Stop(import, importer);
            if (!File.Exists(Path.Combine(targetDirectory, StateFile)))
            {
                throw new VtpmException("VtpmResealFailed", $"swtpm imported the state but wrote no {StateFile} in {targetDirectory}.");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ingress);
            CryptographicOperations.ZeroMemory(egress);
            work.Delete(recursive: true);
        }
    }

    private static int StartForReseal(string stateDirectory, VtpmChannel channel, string pidFile, byte[][] keys, bool needInit)
    {
        var arguments = new List<string>
        {
            "socket", "--tpm2", "--tpmstate", "dir=" + Path.GetFullPath(stateDirectory), "--key", KeyOption(3), "--migration-key", KeyOption(4),
            "--daemon", "--pid", "file=" + pidFile, "--ctrl", "type=unixio,path=" + channel.Socket + ",mode=0600",
        };
        if (!needInit)
        {
            arguments.AddRange(["--flags", "not-need-init"]);
        }

        var (exitCode, error) = RunWithKeys("swtpm", arguments, keys);
        return exitCode == 0
            ? ReadPid(pidFile)
            : throw new VtpmException(needInit ? "VtpmResealFailed" : "VtpmStateRefused", $"swtpm did not start on {stateDirectory} to re-seal it (exit {exitCode}): {LastLines(error)}");
    }

    private static void RunIoctl(VtpmChannel channel, params string[] command)
    {
        var (exitCode, error) = Run("swtpm_ioctl", [.. channel.IoctlArguments(), .. command]);
        if (exitCode != 0)
        {
            throw new VtpmException("VtpmResealFailed", $"swtpm_ioctl {string.Join(' ', command.Take(2))} failed (exit {exitCode}): {LastLines(error)}");
        }
    }

    /// <summary>True when <paramref name="pid"/> is a live swtpm (a pid file can outlive its process, and pids are reused).</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            string status = File.ReadAllText($"/proc/{pid}/stat");
            int end = status.LastIndexOf(')');
            return status.Contains("(swtpm)", StringComparison.Ordinal) && end > 0 && end + 2 < status.Length && status[end + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void WaitForExit(int pid)
    {
        var deadline = DateTime.UtcNow + StopTimeout;
        while (IsRunning(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new VtpmException("VtpmStopFailed", $"swtpm {pid} did not exit within {StopTimeout.TotalSeconds} s of its shutdown.");
            }

            Thread.Sleep(50);
        }
    }

    private static int ReadPid(string pidFile) =>
        File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture, out int pid)
            ? pid
            : throw new VtpmException("VtpmStateRefused", $"swtpm started but wrote no pid to {pidFile}.");

    private static string KeyOption(int descriptor) => $"fd={descriptor},mode={Cipher},format=binary";

    private static void RequireKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyBytes)
        {
            throw new ArgumentException($"A transport key has {KeyBytes} bytes.", nameof(key));
        }
    }

    /// <summary>
    /// Runs <paramref name="tool"/> with <c>keys[i]</c> readable on its descriptor 3 + i: the first through a pipe
    /// (/bin/sh moves its stdin there and gives the tool /dev/null as stdin), any further one through a named pipe in a
    /// private temporary folder (kernel buffers only, like the first). Returns the exit code and standard error.
    /// </summary>
    internal static (int ExitCode, string Error) RunWithKeys(string tool, IReadOnlyList<string> arguments, IReadOnlyList<byte[]> keys)
    {
        ArgumentOutOfRangeException.ThrowIfZero(keys.Count);
        DirectoryInfo? fifos = keys.Count > 1 ? Directory.CreateTempSubdirectory("openhgs-keys-") : null;
        try
        {
            var redirections = new StringBuilder("3<&0");
            var fifoPaths = new List<string>();
            for (int i = 1; i < keys.Count; i++)
            {
                string fifo = Path.Combine(fifos!.FullName, $"key{3 + i}");
                var (made, why) = Run("mkfifo", ["-m", "600", fifo]);
                if (made != 0)
                {
                    throw new VtpmException("VtpmUnavailable", $"mkfifo failed: {LastLines(why)}");
                }

                fifoPaths.Add(fifo);
                redirections.Append(System.Globalization.CultureInfo.InvariantCulture, $" {3 + i}<\"$OPENHGS_KEY_FIFO_{3 + i}\"");
            }

            var start = new ProcessStartInfo("/bin/sh")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"exec \"$0\" \"$@\" {redirections} 0</dev/null");
            start.ArgumentList.Add(Locate(tool));
            foreach (string argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            for (int i = 0; i < fifoPaths.Count; i++)
            {
                start.Environment[$"OPENHGS_KEY_FIFO_{4 + i}"] = fifoPaths[i];
            }

            using var process = Process.Start(start) ?? throw new VtpmException("VtpmUnavailable", $"{tool} could not be started.");
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            try
            {
                process.StandardInput.BaseStream.Write(keys[0]);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The tool exited before reading the key: its exit code and stderr say why.
            }

            // Opening a named pipe for writing waits for its reader (the shell, in order); a shell that died first
            // never opens it, so the writers are abandoned then (they hold no secret beyond their own key copy).
            var writers = fifoPaths.Select((fifo, i) => Task.Run(() =>
            {
                using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                stream.Write(keys[i + 1]);
            })).ToArray();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new VtpmException("VtpmManufactureFailed", $"{tool} did not finish within {Timeout.TotalSeconds} s.");
            }

            foreach (string fifo in fifoPaths.Where((_, i) => !writers[i].IsCompleted))
            {
                // Unblock a writer whose reader never came: open the read end and drop it.
                using var drain = new FileStream(fifo, FileMode.Open, FileAccess.Read);
            }

            Task.WaitAll(writers.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)).ToArray());
            output.Wait();
            return (process.ExitCode, error.Result);
        }
        finally
        {
            fifos?.Delete(recursive: true);
        }
    }

    /// <summary>Runs <paramref name="tool"/> (no secret involved) and returns its exit code and standard error.</summary>
    private static (int ExitCode, string Error) Run(string tool, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(Locate(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new VtpmException("VtpmUnavailable", $"{tool} could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{tool} did not finish within {Timeout.TotalSeconds} s.");
        }

        output.Wait();
        return (process.ExitCode, error.Result);
    }

    private static string Locate(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Select(folder => Path.Combine(folder, tool))
            .FirstOrDefault(File.Exists)
        ?? throw new VtpmException("VtpmUnavailable", $"{tool} is not installed (Debian packages swtpm and swtpm-tools).");

    private static string LastLines(string text) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(3));
}
