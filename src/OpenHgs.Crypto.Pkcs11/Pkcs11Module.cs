using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// One PKCS#11 module loaded (C_Initialize'd) once per process and shared by every store that names it.
/// </summary>
/// <remarks>
/// A PKCS#11 module keeps process-wide state: loading the same file a second time yields the same native
/// instance, and disposing that second wrapper calls C_Finalize, which tears down every session of every other
/// user in the process. So modules are cached by canonical file path (symbolic links resolved: Debian's
/// <c>/usr/lib/softhsm/libsofthsm2.so</c> is a link) and reference-counted; the module is finalized only when
/// the last lease is released.
/// </remarks>
internal sealed class Pkcs11Module
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Pkcs11Module> Loaded = new(StringComparer.Ordinal);

    private readonly LowLevelCapturingSessionFactory _sessionFactory;
    private int _leases;

    private Pkcs11Module(string canonicalPath, Pkcs11InteropFactories factories, IPkcs11Library library, LowLevelCapturingSessionFactory sessionFactory)
    {
        CanonicalPath = canonicalPath;
        Factories = factories;
        Library = library;
        _sessionFactory = sessionFactory;
    }

    /// <summary>The module file with every symbolic link resolved; the cache key.</summary>
    public string CanonicalPath { get; }

    public Pkcs11InteropFactories Factories { get; }

    public IPkcs11Library Library { get; }

    /// <summary>The low-level wrapper behind <see cref="Library"/>, known once a session has been opened.</summary>
    public LowLevelPkcs11Library? LowLevelLibrary => _sessionFactory.LowLevelLibrary;

    /// <summary>Loads the module, or takes another lease on the already loaded one. Pair with <see cref="Release"/>.</summary>
    public static Pkcs11Module Acquire(string modulePath)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        Pkcs11NativeResolver.EnsureRegistered();
        string canonicalPath = Canonicalize(modulePath);
        lock (Gate)
        {
            if (!Loaded.TryGetValue(canonicalPath, out Pkcs11Module? module))
            {
                var sessionFactory = new LowLevelCapturingSessionFactory();
                var factories = new Pkcs11InteropFactories(
                    new Pkcs11LibraryFactory(),
                    new SlotFactory(),
                    sessionFactory,
                    new ObjectAttributeFactory(),
                    new ObjectHandleFactory(),
                    new MechanismFactory(),
                    new MechanismParamsFactory());

                // MultiThreaded: C_Initialize with CKF_OS_LOCKING_OK, because the store calls in from many threads.
                IPkcs11Library library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, canonicalPath, AppType.MultiThreaded);
                module = new Pkcs11Module(canonicalPath, factories, library, sessionFactory);
                Loaded.Add(canonicalPath, module);
            }

            module._leases++;
            return module;
        }
    }

    /// <summary>Number of live leases on the module at <paramref name="modulePath"/> (0 when not loaded).</summary>
    internal static int LeaseCount(string modulePath)
    {
        string canonicalPath = Canonicalize(modulePath);
        lock (Gate)
        {
            return Loaded.TryGetValue(canonicalPath, out Pkcs11Module? module) ? module._leases : 0;
        }
    }

    /// <summary>Gives back one lease; the last one finalizes and unloads the module.</summary>
    public void Release()
    {
        lock (Gate)
        {
            if (_leases <= 0)
            {
                throw new InvalidOperationException("PKCS#11 module lease released more often than acquired.");
            }

            if (--_leases > 0)
            {
                return;
            }

            Loaded.Remove(CanonicalPath);
            Library.Dispose();
        }
    }

    /// <summary>Resolves every symbolic link in <paramref name="path"/>, like realpath(3).</summary>
    internal static string Canonicalize(string path)
    {
        string current = Path.GetFullPath(path);
        for (int hops = 0; hops < 40; hops++)
        {
            string? resolved = ResolveFirstLink(current);
            if (resolved is null)
            {
                return current;
            }

            current = resolved;
        }

        throw new IOException($"Too many levels of symbolic links in '{path}'.");
    }

    private static string? ResolveFirstLink(string fullPath)
    {
        string root = Path.GetPathRoot(fullPath)!;
        string[] parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        string current = root;
        for (int i = 0; i < parts.Length; i++)
        {
            string next = Path.Combine(current, parts[i]);
            string? target = new FileInfo(next).LinkTarget;
            if (target is not null)
            {
                string resolved = Path.GetFullPath(target, current);
                return i + 1 < parts.Length ? Path.Combine([resolved, .. parts[(i + 1)..]]) : resolved;
            }

            current = next;
        }

        return null;
    }

    /// <summary>
    /// Creates sessions as usual but remembers the low-level library wrapper, which the high-level API does not
    /// expose and which <see cref="Pkcs11Decryption"/> needs to decrypt into a buffer it can zero.
    /// </summary>
    private sealed class LowLevelCapturingSessionFactory : ISessionFactory
    {
        private readonly SessionFactory _inner = new();
        private volatile LowLevelPkcs11Library? _lowLevelLibrary;

        public LowLevelPkcs11Library? LowLevelLibrary => _lowLevelLibrary;

        public ISession Create(Pkcs11InteropFactories factories, LowLevelPkcs11Library pkcs11Library, ulong sessionId)
        {
            _lowLevelLibrary ??= pkcs11Library;
            return _inner.Create(factories, pkcs11Library, sessionId);
        }
    }
}
