using System.Runtime.InteropServices;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// The C library's environment (getenv(3)/setenv(3)), which native code such as a PKCS#11 module reads. On Unix .NET
/// keeps its own copy of the environment: <see cref="Environment.SetEnvironmentVariable(string, string)"/> is seen by
/// managed code and child processes, not by <c>getenv()</c> inside a module. Hence P/Invoke.
/// </summary>
/// <remarks>
/// <para>Security contract: values are handed to <c>setenv</c> and nowhere else (no message, no log line). They stay in
/// the C environment only while <see cref="RunWith{T}"/> runs; afterwards every variable is back to what it was (unset
/// if it was unset), so child processes and later module loads never see them.</para>
/// <para>Limit: glibc's <c>getenv</c> takes no lock, so native code on another thread that reads the C environment
/// while a module loads may see the variables set, or race with <c>setenv</c> growing the array. Modules load at
/// start-up and when a cluster member is reopened, both rare, and most native code reads its variables once when it
/// starts; the variables set here are the module's own (e.g. <c>P11_KIT_SERVER_ADDRESS</c>).</para>
/// </remarks>
internal static partial class NativeEnvironment
{
    // Static mutable state on purpose, the one exception to "no static settings" in the key store layer: the C
    // environment exists once per process, so the lock that keeps one module's variables away from every other
    // module's load (and keeps a restore from running under someone else's load) has to be process-wide as well.
    // Instances of anything could not coordinate over a resource they do not own.
    private static readonly Lock Gate = new();

    /// <summary>
    /// Sets <paramref name="variables"/> in the C environment, runs <paramref name="action"/> (a module load and its
    /// C_Initialize) and restores the previous values, also when it throws, all under one process-wide lock. Call it
    /// for every module load, with or without variables, so that no load ever sees another load's variables.
    /// </summary>
    public static T RunWith<T>(IReadOnlyList<KeyValuePair<string, string>> variables, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(action);
        lock (Gate)
        {
            var previous = new List<(string Name, string? Value)>(variables.Count);
            try
            {
                foreach ((string name, string value) in variables)
                {
                    previous.Add((name, Get(name)));
                    Set(name, value);
                }

                return action();
            }
            finally
            {
                for (int i = previous.Count - 1; i >= 0; i--)
                {
                    (string name, string? value) = previous[i];
                    if (value is null)
                    {
                        Unset(name);
                    }
                    else
                    {
                        Set(name, value);
                    }
                }
            }
        }
    }

    /// <summary>getenv(3): the variable as native code sees it, or null.</summary>
    internal static string? Get(string name)
    {
        IntPtr value = NativeGet(name);
        return value == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(value);
    }

    private static void Set(string name, string value)
    {
        if (NativeSet(name, value, overwrite: 1) != 0)
        {
            throw new KeyStoreUnavailableException($"setenv({name}) failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    private static void Unset(string name)
    {
        if (NativeUnset(name) != 0)
        {
            throw new KeyStoreUnavailableException($"unsetenv({name}) failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr NativeGet(string name);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeSet(string name, string value, int overwrite);

    [LibraryImport("libc.so.6", EntryPoint = "unsetenv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int NativeUnset(string name);
}
