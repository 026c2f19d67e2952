using OpenHgs.Testing;

namespace OpenHgs.EndToEnd.Tests.Infrastructure;

/// <summary>A data folder initialised by the real <c>hgs server init</c> on a SoftHSM2 token (SQLite).</summary>
public static class SoftHsmDataFolder
{
    /// <summary>
    /// Runs <c>hgs server init</c> on <paramref name="token"/> into <paramref name="data"/> and returns the environment
    /// the service and CLI need for it (the SoftHSM configuration and the PIN variable init names).
    /// </summary>
    public static async Task<Dictionary<string, string?>> InitAsync(SoftHsmToken token, string data)
    {
        ArgumentNullException.ThrowIfNull(token);
        var environment = new Dictionary<string, string?>
        {
            [SoftHsmEnvironment.ConfigurationVariable] = SoftHsmEnvironment.ConfigurationFile,
            [token.PinEnvironmentVariable] = token.Pin,
        };
        (await HgsCli.RunAsync(["server", "init", "--data", data, "--hsm-module", token.ModulePath, "--hsm-token", token.TokenLabel, "--hsm-pin-env", token.PinEnvironmentVariable],
            environment)).Succeeded();
        return environment;
    }
}
