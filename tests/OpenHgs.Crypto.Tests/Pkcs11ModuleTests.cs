using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Net.Pkcs11Interop.HighLevelAPI;
using OpenHgs.Crypto.Pkcs11;
using OpenHgs.Testing;

namespace OpenHgs.Crypto.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Pkcs11ModuleLifetimeCollection
{
    /// <summary>Counts module leases, so nothing else may open or close stores meanwhile.</summary>
    public const string Name = "PKCS#11 module lifetime";
}

/// <summary>One module load per process, shared and reference-counted; the libdl resolver is in place.</summary>
[Collection(Pkcs11ModuleLifetimeCollection.Name)]
public sealed class Pkcs11ModuleTests : IDisposable
{
    private readonly SoftHsmToken _token = new();
    private readonly string _links = Directory.CreateTempSubdirectory("openhgs-module-links-").FullName;

    public void Dispose()
    {
        Directory.Delete(_links, recursive: true);
        _token.Dispose();
    }

    [Fact]
    public void Stores_share_one_module_load_even_through_a_symlinked_path()
    {
        string linkedModule = Path.Combine(_links, "libsofthsm2-link.so");
        File.CreateSymbolicLink(linkedModule, _token.ModulePath);
        int before = Pkcs11Module.LeaseCount(_token.ModulePath);

        Pkcs11KeyStore first = _token.OpenKeyStore();
        using Pkcs11KeyStore second = new Pkcs11KeyStoreProvider().OpenStore(
            KeyStoreUri.Parse(_token.KeyStoreUri.Replace(_token.ModulePath, linkedModule, StringComparison.Ordinal)),
            _token.CreateOpenContext());

        Assert.Equal(before + 2, Pkcs11Module.LeaseCount(_token.ModulePath));
        Assert.Equal(before + 2, Pkcs11Module.LeaseCount(linkedModule));

        StoredKey key = first.CreateKey(new CreateKeyRequest("shared-module", KeyAlgorithm.EcP256, KeyUsage.Sign));
        first.Dispose();

        // Disposing one store must not finalize the module under the other.
        Assert.Equal(before + 1, Pkcs11Module.LeaseCount(_token.ModulePath));
        byte[] hash = SHA256.HashData("still alive"u8);
        byte[] signature = second.SignHash(new SignHashRequest(key.Label, hash, SignatureScheme.EcdsaSha256));
        using ECDsa verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        Assert.True(verifier.VerifyHash(hash, signature));
    }

    [Fact]
    public void The_module_is_finalized_with_its_last_store_and_loads_again()
    {
        int before = Pkcs11Module.LeaseCount(_token.ModulePath);
        using (Pkcs11KeyStore store = _token.OpenKeyStore())
        {
            Assert.Equal(before + 1, Pkcs11Module.LeaseCount(_token.ModulePath));
        }

        Assert.Equal(before, Pkcs11Module.LeaseCount(_token.ModulePath));
        using Pkcs11KeyStore reopened = _token.OpenKeyStore();
        Assert.Empty(reopened.ListKeys());
    }

    [Fact]
    public void Canonical_path_resolves_file_and_directory_links()
    {
        string directoryLink = Path.Combine(_links, "softhsm-dir");
        Directory.CreateSymbolicLink(directoryLink, Path.GetDirectoryName(_token.ModulePath)!);
        string viaDirectory = Path.Combine(directoryLink, Path.GetFileName(_token.ModulePath));

        string canonical = Pkcs11Module.Canonicalize(_token.ModulePath);

        Assert.Equal(canonical, Pkcs11Module.Canonicalize(viaDirectory));
        Assert.Null(new FileInfo(canonical).LinkTarget);
        Assert.True(File.Exists(canonical));
    }

    [Fact]
    public void The_libdl_resolver_is_registered_for_pkcs11interop()
    {
        using (_token.OpenKeyStore())
        {
        }

        // The runtime allows one resolver per assembly: a second registration fails only if ours is in place.
        Assembly pkcs11Interop = typeof(Pkcs11InteropFactories).Assembly;
        Assert.Throws<InvalidOperationException>(() => NativeLibrary.SetDllImportResolver(pkcs11Interop, (_, _, _) => IntPtr.Zero));
    }
}
