using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace OpenHgs.Crypto.Pkcs11;

/// <summary>
/// One PKCS#11 module loaded (C_Initialize'd) once per process and shared by every store that names it.
/// </summary>
/// <remarks>
/// <para>A PKCS#11 module keeps process-wide state: loading the same file a second time yields the same native
/// instance, and disposing that second wrapper calls C_Finalize, which tears down every session of every other
/// user in the process. So modules are cached by file identity (device and inode, see <see cref="ModuleFileIdentity"/>:
/// Debian's <c>/usr/lib/softhsm/libsofthsm2.so</c> is a link, and a hard link is the same file too) and
/// reference-counted; the module is finalized only when the last lease is released.</para>
/// <para>Module environment (<c>module-env</c>): the variables are set in the C environment only while the module is
/// loaded and initialised (dlopen, C_GetFunctionList, C_Initialize), under <see cref="NativeEnvironment"/>'s
/// process-wide lock, and restored afterwards; a module loaded again after its last lease was released (a cluster
/// member reopened) gets them again. Because a loaded module is shared, a second lease must ask for the same
/// environment: a different one is refused (field <c>module-env</c>), since the module has already read its
/// environment and would silently ignore the new one. Stores that need different environments need different
/// files (copies) of the module.</para>
/// </remarks>
internal sealed partial class Pkcs11Module
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Pkcs11Module> Loaded = new(StringComparer.Ordinal);

    private readonly LowLevelCapturingSessionFactory _sessionFactory;
    private int _leases;

    private Pkcs11Module(string identity, string canonicalPath, Pkcs11ModuleEnvironment environment, Pkcs11InteropFactories factories,
        IPkcs11Library library, LowLevelCapturingSessionFactory sessionFactory)
    {
        Identity = identity;
        CanonicalPath = canonicalPath;
        Environment = environment;
        Factories = factories;
        Library = library;
        _sessionFactory = sessionFactory;
    }

    /// <summary>The file's identity (device and inode); the cache key.</summary>
    public string Identity { get; }

    /// <summary>The module file with every symbolic link resolved, as it was first loaded.</summary>
    public string CanonicalPath { get; }

    /// <summary>The variables the module was loaded with.</summary>
    public Pkcs11ModuleEnvironment Environment { get; }

    public Pkcs11InteropFactories Factories { get; }

    public IPkcs11Library Library { get; }

    /// <summary>The low-level wrapper behind <see cref="Library"/>, known once a session has been opened.</summary>
    public LowLevelPkcs11Library? LowLevelLibrary => _sessionFactory.LowLevelLibrary;

    /// <summary>Loads the module with no module environment, or takes another lease on it. Pair with <see cref="Release"/>.</summary>
    public static Pkcs11Module Acquire(string modulePath) => Acquire(modulePath, Pkcs11ModuleEnvironment.None, NullLogger.Instance);

    /// <summary>
    /// Loads the module with <paramref name="environment"/> set, or takes another lease on the already loaded one.
    /// Pair with <see cref="Release"/>.
    /// </summary>
    /// <param name="modulePath">The module file.</param>
    /// <param name="environment">The <c>module-env</c> variables to set while the module loads.</param>
    /// <param name="logger">Told when the module is really loaded (names of the variables only).</param>
    /// <exception cref="KeyStoreConfigurationException">
    /// (<c>module-env</c>) The same file is already loaded in this process with another environment.
    /// </exception>
    public static Pkcs11Module Acquire(string modulePath, Pkcs11ModuleEnvironment environment, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(modulePath);
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(logger);
        Pkcs11NativeResolver.EnsureRegistered();
        string canonicalPath = Canonicalize(modulePath);
        string identity = ModuleFileIdentity.Of(canonicalPath);
        lock (Gate)
        {
            Pkcs11Module? module = Find(identity, canonicalPath);
            if (module is not null)
            {
                if (!module.Environment.SameAs(environment))
                {
                    throw EnvironmentConflict(modulePath, module.CanonicalPath, "a key store already open in this process", module.Environment, "this key store", environment);
                }
            }
            else
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
                // The module reads its environment while it loads and initialises (p11-kit-client: in C_GetFunctionList).
                IPkcs11Library library = NativeEnvironment.RunWith(environment.Variables,
                    () => factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, canonicalPath, AppType.MultiThreaded));
                module = new Pkcs11Module(identity, canonicalPath, environment, factories, library, sessionFactory);
                Loaded.Add(identity, module);
                LogModuleLoaded(logger, canonicalPath, environment.ToString());
            }

            module._leases++;
            return module;
        }
    }

    /// <summary>
    /// The refusal for two stores that need one module file loaded with different environments: names the variables,
    /// never their values, and says what to do (a copy of the module file per store).
    /// </summary>
    /// <param name="modulePath">The module path of the store being refused.</param>
    /// <param name="otherPath">The canonical path of the same file as the other user named it.</param>
    /// <param name="otherUser">Who holds the module, e.g. <c>a key store already open in this process</c>.</param>
    /// <param name="wantedBy">Who asks for <paramref name="wanted"/>, e.g. <c>this key store</c> or a cluster member's name.</param>
    internal static KeyStoreConfigurationException EnvironmentConflict(string modulePath, string otherPath, string otherUser,
        Pkcs11ModuleEnvironment other, string wantedBy, Pkcs11ModuleEnvironment wanted)
    {
        string file = string.Equals(Canonicalize(modulePath), otherPath, StringComparison.Ordinal)
            ? $"'{modulePath}'"
            : $"'{modulePath}' (the same file as '{otherPath}')";
        string difference = string.Equals(other.ToString(), wanted.ToString(), StringComparison.Ordinal)
            ? $"{wanted} with other values"
            : wanted.ToString();
        return new KeyStoreConfigurationException(Pkcs11ModuleEnvironment.Field,
            $"the PKCS#11 module {file} is used by {otherUser} with {other}, and {wantedBy} asks for {difference}. "
            + "A module file is loaded once per process and reads its environment only then, so each key store (cluster member) that "
            + "needs its own module environment needs its own copy of the module file, named in its module-path "
            + $"(a copy, not a link: e.g. cp {otherPath} /var/lib/hgs/hsm-m2/{Path.GetFileName(otherPath)}).");
    }

    /// <summary>Number of live leases on the module at <paramref name="modulePath"/> (0 when not loaded).</summary>
    internal static int LeaseCount(string modulePath)
    {
        string canonicalPath = Canonicalize(modulePath);
        string identity = ModuleFileIdentity.Of(canonicalPath);
        lock (Gate)
        {
            return Find(identity, canonicalPath)?._leases ?? 0;
        }
    }

    /// <summary>
    /// The loaded module for this file: same device and inode, or the same path (dlopen matches a loaded library by its
    /// name first, so a file replaced on disk under a loaded module's path still yields the loaded instance). Caller holds <see cref="Gate"/>.
    /// </summary>
    private static Pkcs11Module? Find(string identity, string canonicalPath) =>
        Loaded.TryGetValue(identity, out Pkcs11Module? module)
            ? module
            : Loaded.Values.FirstOrDefault(m => string.Equals(m.CanonicalPath, canonicalPath, StringComparison.Ordinal));

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

            Loaded.Remove(Identity);
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

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "PKCS#11 module {Module} loaded and initialised ({ModuleEnvironment}).")]
    private static partial void LogModuleLoaded(ILogger logger, string module, string moduleEnvironment);

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
