using OpenHgs.Protocol.Guardians;

namespace OpenHgs.Cli.Commands;

/// <summary>The guardian files an owner's commands read (<c>hgs kp</c>, <c>hgs vm</c>): one size limit and one message each.</summary>
internal static class GuardianFiles
{
    /// <summary>An owner guardian file (from <c>hgs guardian new</c>): metadata and private keys, so twice the metadata's limit.</summary>
    public static LocalGuardian LoadOwner(string path) =>
        LocalGuardian.Parse(System.Text.Encoding.UTF8.GetString(CliOutput.ReadFile(path, "owner guardian", GuardianMetadata.MaxDocumentBytes * 2)));

    /// <summary>A guardian metadata file (from <c>hgs guardian export</c>).</summary>
    public static GuardianMetadata LoadMetadata(string path) =>
        GuardianMetadata.Parse(System.Text.Encoding.UTF8.GetString(CliOutput.ReadFile(path, "guardian metadata", GuardianMetadata.MaxDocumentBytes)));

    /// <summary>The guardian a revocation names: a metadata file's guardian when the argument is a file, else the argument as a name.</summary>
    public static string NameOf(string nameOrFile) => File.Exists(nameOrFile) ? LoadMetadata(nameOrFile).Name : nameOrFile;
}
