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

    /// <summary>Replaces <paramref name="path"/> atomically (write to a 0600 temp file, then rename).</summary>
    public static void Replace(string path, ReadOnlySpan<byte> content)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        CreateNew(temp, content);
        File.Move(temp, path, overwrite: true);
    }
}
