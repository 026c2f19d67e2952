using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace OpenHgs.Protocol.Tests.Support;

/// <summary>
/// RSA-2048 test keys generated once with OpenSSL (<c>Support/test-keys.pem</c>, embedded), because generating keys
/// on a busy two-core box costs most of a second each. Every call returns a new <see cref="RSA"/> instance.
/// </summary>
internal static partial class TestKeys
{
    /// <summary>Keys 0–9 belong to the named shared guardians; the rest are handed out in turn.</summary>
    private const int FirstPooled = 10;

    private static readonly Lazy<string[]> Pems = new(Load);
    private static int _next = FirstPooled - 1;

    public static RSA Get(int index)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(Pems.Value[index]);
        return rsa;
    }

    /// <summary>A key no named guardian uses; distinct from the previous <c>Count - 10</c> calls.</summary>
    public static RSA Next()
    {
        int pooled = Pems.Value.Length - FirstPooled;
        int index = FirstPooled + ((Interlocked.Increment(ref _next) - FirstPooled) % pooled);
        return Get(index);
    }

    private static string[] Load()
    {
        using var stream = typeof(TestKeys).Assembly.GetManifestResourceStream("test-keys.pem")
            ?? throw new InvalidOperationException("test-keys.pem is not embedded.");
        using var reader = new StreamReader(stream);
        return PemBlock().Matches(reader.ReadToEnd()).Select(m => m.Value).ToArray();
    }

    [GeneratedRegex("-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----")]
    private static partial Regex PemBlock();
}
