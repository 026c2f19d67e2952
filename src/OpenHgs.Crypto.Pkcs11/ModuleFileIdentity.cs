using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// Which file a module path names, as the dynamic loader sees it: glibc's <c>dlopen</c> returns the already loaded
/// instance for any path to the same file (same device and inode: symbolic links, hard links, bind mounts), and a
/// separate instance only for a different file, such as a copy.
/// </summary>
internal static partial class ModuleFileIdentity
{
    // struct stat is at most 144 bytes on the 64-bit Linux ABIs; st_dev and st_ino are its first two 64-bit fields on
    // x86-64 and on the generic layout (aarch64, riscv64).
    private const int StatBufferSize = 256;

    /// <summary>
    /// <c>dev:inode</c> of the file at <paramref name="canonicalPath"/>, or the path itself where that cannot be read
    /// (other architectures, a C library without a <c>stat</c> symbol); the path then still catches symbolic links.
    /// </summary>
    public static string Of(string canonicalPath)
    {
        ArgumentNullException.ThrowIfNull(canonicalPath);
        if (RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64 or Architecture.RiscV64))
        {
            return "path:" + canonicalPath;
        }

        byte[] buffer = new byte[StatBufferSize];
        try
        {
            if (Stat(canonicalPath, buffer) != 0)
            {
                return "path:" + canonicalPath;
            }
        }
        catch (EntryPointNotFoundException)
        {
            return "path:" + canonicalPath;
        }

        ulong device = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(0, 8));
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8, 8));
        return $"inode:{device}:{inode}";
    }

    [LibraryImport("libc.so.6", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, [Out] byte[] buffer);
}
