using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

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
            var (exitCode, error) = RunWithKey("swtpm_setup",
                ["--tpm2", "--tpmstate", stateDirectory, "--keyfile-fd", "3", "--cipher", Cipher, "--createek", "--not-overwrite"], hex);
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
    /// Runs <paramref name="tool"/> with <paramref name="key"/> readable on its descriptor 3 (a pipe: /bin/sh moves its
    /// stdin there and gives the tool /dev/null as stdin). Returns the exit code and standard error.
    /// </summary>
    internal static (int ExitCode, string Error) RunWithKey(string tool, IReadOnlyList<string> arguments, ReadOnlySpan<byte> key)
    {
        string executable = Locate(tool);
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" \"$@\" 3<&0 0</dev/null");
        start.ArgumentList.Add(executable);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new VtpmException("VtpmUnavailable", $"{tool} could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            process.StandardInput.BaseStream.Write(key);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The tool exited before reading the key: its exit code and stderr say why.
        }

        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new VtpmException("VtpmManufactureFailed", $"{tool} did not finish within {Timeout.TotalSeconds} s.");
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
