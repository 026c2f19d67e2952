using OpenHgs.EndToEnd.Tests.Cli;
using OpenHgs.EndToEnd.Tests.Infrastructure;
using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Packaging;

/// <summary>
/// The shipped unit restarts a node that failed for a reason that may pass (HSM or database unreachable) and never
/// one whose configuration is wrong: a wrong HSM PIN retried every 5 s would spend the token's login attempts until
/// the HSM locks the partition's user (Luna and Primus count failed logins), and a key custody refusal would repeat
/// forever. The exit codes are the real CLI's, not restated here.
/// </summary>
public sealed class SystemdUnitRestartTests
{
    private static readonly string Unit = Path.Combine(RepositoryFolder.Root, "packaging", "systemd", "openhgs.service");

    [Fact]
    public async Task A_start_refused_for_a_wrong_hsm_pin_exits_with_a_status_the_unit_does_not_restart()
    {
        using var token = new SoftHsmToken();
        using var folder = new TempFolder();
        string data = folder["service"];
        var environment = await SoftHsmDataFolder.InitAsync(token, data);

        environment[token.PinEnvironmentVariable] = "not-the-pin";
        var run = await HgsCli.RunAsync(
            ["server", "run", "--data", data, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}"], environment, timeout: TimeSpan.FromSeconds(60));
        string error = run.FailedWithOneErrorLine(run.ExitCode == 0 ? -1 : run.ExitCode);
        Assert.Contains("CKR_PIN_INCORRECT", error, StringComparison.Ordinal);

        var (restart, prevented) = RestartPolicy();
        Assert.Equal("on-failure", restart);
        Assert.Contains(run.ExitCode, prevented);
    }

    [Fact]
    public void Only_configuration_errors_are_kept_from_restarting()
    {
        // Exit 1 (refused) and 3 (unavailable: HSM or database not answering yet) are retried; 2 (bad input) is not.
        var (_, prevented) = RestartPolicy();
        Assert.Equal([2], prevented);
    }

    private static (string Restart, int[] Prevented) RestartPolicy()
    {
        var lines = File.ReadAllLines(Unit).Select(l => l.Trim()).Where(l => !l.StartsWith('#')).ToList();
        string restart = lines.Single(l => l.StartsWith("Restart=", StringComparison.Ordinal))["Restart=".Length..];
        int[] prevented = [.. lines.Where(l => l.StartsWith("RestartPreventExitStatus=", StringComparison.Ordinal))
            .SelectMany(l => l["RestartPreventExitStatus=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(int.Parse)];
        return (restart, prevented);
    }
}
