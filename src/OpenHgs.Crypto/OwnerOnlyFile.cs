namespace OpenHgs.Crypto;

/// <summary>Writes files that hold secrets: created with mode 0600 from the start, never widened afterwards.</summary>
public static class OwnerOnlyFile
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> (it must not exist) with mode 0600 and writes the bytes.</summary>
    public static void CreateNew(string path, ReadOnlySpan<byte> content)
    {
        using var stream = OpenNew(path);
        stream.Write(content);
    }

    /// <summary>Creates <paramref name="path"/> (it must not exist) with mode 0600 and returns a stream to write it.</summary>
    public static FileStream OpenNew(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        return new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerReadWrite });
    }

    /// <summary>Creates <paramref name="path"/> (and missing parents) as a folder only its owner may use (0700); an existing folder is left as it is.</summary>
    public static void CreateDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>
    /// Null when group and others have no access to <paramref name="path"/>; else a one-line description naming the
    /// file and its mode (e.g. <c>'/var/lib/hgs/hgs.json' has mode 0644: group and others must have no access (chmod 600 …)</c>).
    /// </summary>
    public static string? AccessProblem(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            return null; // no Unix modes; the data folder's ACLs are the operator's job there
        }

        UnixFileMode mode = File.GetUnixFileMode(path);
        const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        return (mode & GroupOrOther) == 0
            ? null
            : $"'{Path.GetFullPath(path)}' has mode {Convert.ToString((int)mode & 0xFFF, 8).PadLeft(4, '0')}: group and others must have no access (chmod 600 '{Path.GetFullPath(path)}').";
    }

    /// <summary>Replaces <paramref name="path"/> atomically (write to a 0600 temp file, then rename).</summary>
    public static void Replace(string path, ReadOnlySpan<byte> content)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        CreateNew(temp, content);
        File.Move(temp, path, overwrite: true);
    }
}
