namespace OpenHgs.Cli;

/// <summary>Option values that fall back to an environment variable (as VAULT_CACERT does for Vault).</summary>
internal static class CliEnvironment
{
    /// <summary>The option's file, else the variable's, made absolute; null when neither is set (or the variable is empty).</summary>
    public static string? Path(string? option, string variable)
    {
        string? value = option ?? Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrEmpty(value) ? null : System.IO.Path.GetFullPath(value);
    }
}
