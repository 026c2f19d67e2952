using OpenHgs.Protocol.ShieldedVms;

namespace OpenHgs.Client.ShieldedVms;

/// <summary>
/// Holds a shielded VM bundle for one operation that changes it or runs its vTPM (<c>hgs vm grant</c>/<c>revoke</c>,
/// <c>hgs client vm-start</c>/<c>vm-stop</c>): <c>vm.lock</c> in the bundle, opened with <see cref="FileShare.None"/>,
/// which .NET takes as an exclusive <c>flock</c> on Linux. The kernel drops the lock when the holder exits, however it
/// exits, so a dead holder never blocks the bundle. The file is empty and stays; only the lock on it means anything.
/// </summary>
public sealed class BundleLock : IDisposable
{
    public const string FileName = "vm.lock";

    /// <summary>flock's EWOULDBLOCK (Linux), which .NET gives as the HResult of the <see cref="IOException"/> when another holds the lock.</summary>
    private const int HeldElsewhere = 11;

    private readonly FileStream _file;

    private BundleLock(FileStream file) => _file = file;

    /// <summary>
    /// Takes the lock of the bundle in <paramref name="directory"/> without waiting. Throws
    /// <see cref="ShieldedVmBundleException"/>: <c>BundleMalformed</c> when there is no bundle (no <c>vm.json</c>: no lock
    /// file is created in a folder that is not a bundle), <c>BundleBusy</c> when another operation holds it.
    /// </summary>
    public static BundleLock Acquire(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!File.Exists(Path.Combine(directory, ShieldedVmManifest.FileName)))
        {
            throw ShieldedVmBundle.NoManifest(directory);
        }

        string path = Path.Combine(directory, FileName);
        try
        {
            return new BundleLock(new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }));
        }
        catch (IOException ex) when (ex.HResult == HeldElsewhere)
        {
            throw new ShieldedVmBundleException("BundleBusy", $"'{directory}' is in use by another operation (grant, revoke, vm-start or vm-stop holds {path}); nothing was changed: try again when it has finished.");
        }
    }

    public void Dispose() => _file.Dispose();
}
