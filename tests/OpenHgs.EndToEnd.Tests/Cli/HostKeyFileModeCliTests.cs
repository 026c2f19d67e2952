using OpenHgs.Client;
using OpenHgs.EndToEnd.Tests.Infrastructure;

namespace OpenHgs.EndToEnd.Tests.Cli;

/// <summary>
/// A guarded host's private keys are refused when group or others may read them (design change 77), as the service
/// refuses its own configuration and sealing key (A74): the signing key is the host's identity (whoever reads it
/// attests as the host, from anywhere) and every transport key is released wrapped to the encryption key.
/// </summary>
public sealed class HostKeyFileModeCliTests
{
    [Theory]
    [Trait("Attack", "A133")]
    [InlineData(HostKeyPair.SigningKeyFile, "0644")]
    [InlineData(HostKeyPair.EncryptionKeyFile, "0640")]
    [InlineData(HostKeyPair.EncryptionKeyFile, "0604")]
    public async Task A_host_key_file_others_may_read_is_refused_naming_it_and_its_mode(string file, string mode)
    {
        using var folder = new TempFolder();
        string keys = folder["keys"];
        using var closed = new ClosedPort();
        (await HgsCli.RunAsync("client", "keygen", "--out", keys)).Succeeded();
        string path = Path.Combine(keys, file);
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(mode, 8));

        string state = folder["state"];
        string[] configure = ["client", "configure", "--state", state, "--attestation-url", closed.Url, "--key-protection-url", closed.Url, "--host-key", keys];
        string line = (await HgsCli.RunAsync(configure)).FailedWithOneErrorLine(2);

        Assert.StartsWith("error: HostKeyExposed:", line, StringComparison.Ordinal);
        Assert.Contains($"'{path}' has mode {mode}: group and others must have no access (chmod 600 '{path}')", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(state), "a refused configure wrote a state folder");

        // Fixed as the message says, the same keys configure.
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        (await HgsCli.RunAsync(configure)).Succeeded();
    }
}
