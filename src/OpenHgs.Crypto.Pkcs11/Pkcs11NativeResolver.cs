using System.Reflection;
using System.Runtime.InteropServices;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Makes Pkcs11Interop's <c>dlopen</c> P/Invoke work on current glibc.
/// </summary>
/// <remarks>
/// Pkcs11Interop 5.x imports <c>dlopen</c> from "libdl". Since glibc 2.34 the symbols live in libc and the
/// unversioned <c>libdl.so</c> development symlink is usually absent (Debian 12 has only <c>libdl.so.2</c>),
/// so the import fails with DllNotFoundException before any module is loaded. A resolver can be registered
/// only once per assembly and process, hence the one-shot guard.
/// </remarks>
internal static class Pkcs11NativeResolver
{
    private static readonly Lock Gate = new();
    private static bool s_registered;

    /// <summary>Registers the resolver if this process has not done so yet; safe to call from any thread.</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (s_registered)
            {
                return;
            }

            try
            {
                NativeLibrary.SetDllImportResolver(typeof(Pkcs11InteropFactories).Assembly, Resolve);
            }
            catch (InvalidOperationException)
            {
                // Another component of this process registered a resolver for Pkcs11Interop first; the runtime
                // allows only one, and whoever did so took responsibility for libdl.
            }

            s_registered = true;
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (OperatingSystem.IsLinux() && libraryName == "libdl" && NativeLibrary.TryLoad("libdl.so.2", out IntPtr handle))
        {
            return handle;
        }

        // Zero means "use the runtime's default probing" (Windows kernel32, macOS libSystem, an installed libdl.so).
        return IntPtr.Zero;
    }
}
