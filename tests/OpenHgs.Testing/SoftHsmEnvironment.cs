using System.Runtime.InteropServices;

namespace OpenHgs.Testing;

/// <summary>
/// The one SoftHSM2 configuration of this test process: a temporary token directory and a
/// <c>softhsm2.conf</c> pointing at it, published through the process-wide <c>SOFTHSM2_CONF</c> variable.
/// </summary>
/// <remarks>
/// SoftHSM reads <c>SOFTHSM2_CONF</c> when the module is first initialised in a process, and OpenHGS loads each
/// PKCS#11 module only once per process. Two fixtures with different configurations could therefore not both be
/// visible to in-process stores; instead every <see cref="SoftHsmToken"/> shares this configuration and adds its
/// own token (its own label) to the shared token directory. The directory is deleted when the process exits,
/// or by the next test process if this one was killed.
/// Anything else in the test process that sets <c>SOFTHSM2_CONF</c> breaks this arrangement.
/// </remarks>
public static partial class SoftHsmEnvironment
{
    /// <summary>The environment variable SoftHSM2 reads its configuration file name from.</summary>
    public const string ConfigurationVariable = "SOFTHSM2_CONF";

    private static readonly string[] ModuleCandidates =
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ];

    private const string DirectoryPrefix = "openhgs-softhsm-";

    private static readonly Lazy<Paths> Shared = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The temporary directory holding <see cref="ConfigurationFile"/> and <see cref="TokenDirectory"/>.</summary>
    public static string RootDirectory => Shared.Value.Root;

    /// <summary>The <c>softhsm2.conf</c> that <c>SOFTHSM2_CONF</c> names.</summary>
    public static string ConfigurationFile => Shared.Value.ConfigurationFile;

    /// <summary>Where SoftHSM keeps the tokens of this test process.</summary>
    public static string TokenDirectory => Shared.Value.TokenDirectory;

    /// <summary>The SoftHSM2 PKCS#11 module; throws if softhsm2 is not installed.</summary>
    public static string ModulePath => Shared.Value.ModulePath;

    /// <summary>Creates the shared configuration (once) and sets <c>SOFTHSM2_CONF</c>; safe from any thread.</summary>
    public static void EnsureInitialized() => _ = Shared.Value;

    private static Paths Create()
    {
        string modulePath = ModuleCandidates.FirstOrDefault(File.Exists)
            ?? throw ToolMissing($"the SoftHSM2 module (looked in {string.Join(", ", ModuleCandidates)})");
        // softhsm2-util ships with the module; its absence means the softhsm2 package is missing or broken.
        _ = ExternalTool.Locate("softhsm2-util") ?? throw ToolMissing("softhsm2-util");

        ProcessOwnedDirectory.SweepOrphans(DirectoryPrefix);
        string root = ProcessOwnedDirectory.Create(DirectoryPrefix);
        string tokens = Path.Combine(root, "tokens");
        Directory.CreateDirectory(tokens);
        string configuration = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(configuration, $"""
            # Written by OpenHgs.Testing.SoftHsmEnvironment for one test process.
            directories.tokendir = {tokens}
            objectstore.backend = file
            log.level = ERROR
            slots.removable = false

            """);

        SetProcessEnvironmentVariable(ConfigurationVariable, configuration);
        // Not always raised: the test platform may kill its host. The next test process sweeps up instead.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => ProcessOwnedDirectory.TryDelete(root);
        return new Paths(root, configuration, tokens, modulePath);
    }

    internal static InvalidOperationException ToolMissing(string what) =>
        new($"SoftHSM tests need {what}, which is not installed. Run ./test.sh, which installs softhsm2, opensc (pkcs11-tool) and p11-kit.");

    /// <summary>
    /// Sets the variable for native code too. On Unix, .NET keeps its own copy of the environment:
    /// <see cref="Environment.SetEnvironmentVariable(string, string)"/> is seen by managed code and child
    /// processes, but not by getenv() inside libsofthsm2, so the C runtime's environment is set as well.
    /// </summary>
    private static void SetProcessEnvironmentVariable(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (!OperatingSystem.IsWindows() && NativeSetEnvironmentVariable(name, value, overwrite: 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "setenv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeSetEnvironmentVariable(string name, string value, int overwrite);

    private sealed record Paths(string Root, string ConfigurationFile, string TokenDirectory, string ModulePath);
}
